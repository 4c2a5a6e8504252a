"""HTTP through the host: the plugin's only way to reach the network.

Build a `Request`, `send()` it (or many at once with `send_batch`), turn
error statuses into classified errors with `Response.error_for_status()`
and decode the body with `Response.json()`::

    listing = (
        http.Request.get(f"{base}/items")
        .query("limit", req.limit)
        .query("cursor", req.cursor)  # None: left out
        .send()
        .error_for_status()  # 401 -> Auth, 429 -> RateLimited, 5xx -> Transient
        .json()
    )

The host applies its policy to every request (allowed hosts only, the
credentials added by the host, retries of connection failures, 5xx and 429
before the plugin sees the outcome), so a plugin never retries or sleeps: it
maps the final outcome to an error and returns. Sockets and `urllib` do not
work in a plugin (the sandbox denies them); this module is the way out.

Every request goes through the host's `send-batch` import
(`wit_world.imports.http.send_batch`), which `synchost_sdk.testing`
replaces in native tests.
"""

import json as _json
import time as _time
import urllib.parse

from . import _wit
from .errors import (
    Auth,
    Conflict,
    Error,
    Fatal,
    InvalidResponse,
    NotFound,
    RateLimited,
    Transient,
)
from .values import U32_MAX, U64_MAX

NO_TRANSPORT = (
    "no test transport: sending a request outside the host needs one; use "
    "synchost_sdk.testing.serve(handler) or synchost_sdk.testing.replay(cassette) first"
)

#: How many characters of a body error messages quote.
EXCERPT_CHARS = 200


class Request:
    """An HTTP request for the host to send. The builder methods return the
    request itself, so they chain."""

    def __init__(self, method, url, headers=(), body=None, timeout_ms=None):
        #: Upper case: GET, POST, ...
        self.method = method
        #: The absolute http(s) URL, with the query added so far.
        self.url = url
        #: `(name, value)` pairs.
        self.headers = list(headers)
        #: `bytes` or None.
        self.body = body
        #: This request's timeout (the host clamps it), or None.
        self.timeout_ms = timeout_ms

    @classmethod
    def get(cls, url):
        return cls("GET", url)

    @classmethod
    def post(cls, url):
        return cls("POST", url)

    @classmethod
    def put(cls, url):
        return cls("PUT", url)

    @classmethod
    def patch(cls, url):
        return cls("PATCH", url)

    @classmethod
    def delete(cls, url):
        return cls("DELETE", url)

    @classmethod
    def head(cls, url):
        return cls("HEAD", url)

    def header(self, name, value):
        """Adds a header (never credentials: the host replaces an
        `authorization` set here)."""
        self.headers.append((name, str(value)))
        return self

    def replace_header(self, name, value):
        """Sets header `name`, replacing every value set before."""
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        return self.header(name, value)

    def header_value(self, name):
        """The first value of header `name` (case-insensitive), or None."""
        return _find(self.headers, name)

    def query(self, name, value):
        """Appends `name=value` to the URL, both percent-encoded; does
        nothing when `value` is None. Numbers work; booleans are written
        `true`/`false`."""
        if value is None:
            return self
        if isinstance(value, bool):
            value = "true" if value else "false"
        if "?" not in self.url:
            sep = "?"
        elif self.url.endswith(("?", "&")):
            sep = ""
        else:
            sep = "&"
        self.url += f"{sep}{encode(str(name))}={encode(str(value))}"
        return self

    def json(self, value):
        """Sets the body to `value` as JSON, with `content-type:
        application/json` unless one is set."""
        self.body = _json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        if self.header_value("content-type") is None:
            self.header("content-type", "application/json")
        return self

    def data(self, body):
        """Sets a raw body (`bytes`, or `str` sent as UTF-8)."""
        self.body = body.encode() if isinstance(body, str) else bytes(body)
        return self

    def timeout(self, ms):
        """Sets this request's timeout in milliseconds."""
        self.timeout_ms = ms
        return self

    def send(self):
        """Sends the request through the host and returns the final
        `Response` (any status: chain `error_for_status()`). A request that
        got no response raises the error `map_http_error` gives."""
        answer = send_batch([self])[0]
        if isinstance(answer, Error):
            raise answer
        return answer

    def origin(self):
        """`METHOD url`, the prefix of error messages."""
        return f"{self.method} {self.url}"

    def to_wit(self):
        """The `wit_world.imports.http.Request` value."""
        timeout = self.timeout_ms
        if timeout is not None:
            timeout = max(0, min(int(timeout), U32_MAX))
        return _wit.http.Request(
            method=self.method,
            url=self.url,
            headers=[(str(k), str(v)) for k, v in self.headers],
            body=None if self.body is None else bytes(self.body),
            timeout_ms=timeout,
        )

    @classmethod
    def from_wit(cls, req):
        """The request of a `wit_world.imports.http.Request` (for tests)."""
        return cls(req.method, req.url, req.headers, req.body, req.timeout_ms)

    def __repr__(self):
        return f"Request({self.method} {self.url})"


class Response:
    """The final response to a request, after the host's retries."""

    def __init__(self, status, headers=(), body=b"", origin=""):
        #: The HTTP status code.
        self.status = status
        #: `(name, value)` pairs, names in lower case.
        self.headers = [(k.lower(), v) for k, v in headers]
        #: The whole body, `bytes` (a `str` given here is UTF-8 encoded).
        self.body = body.encode() if isinstance(body, str) else bytes(body)
        #: `METHOD url` of the request, for error messages ("" when unknown).
        self.origin = origin

    def header(self, name):
        """The first value of header `name` (case-insensitive), or None."""
        return _find(self.headers, name)

    @property
    def is_success(self):
        return 200 <= self.status < 300

    def text(self):
        """The body as text; `InvalidResponse` when it is not UTF-8."""
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidResponse(f"{self._prefix()}body is not UTF-8: {e}") from None

    def json(self):
        """The body decoded from JSON; `InvalidResponse` quoting the start of
        the body when it is not JSON."""
        try:
            return _json.loads(self.body)
        except ValueError as e:
            raise InvalidResponse(
                f"{self._prefix()}unexpected JSON (HTTP {self.status}): {e}; "
                f"body: {excerpt(self.body)}"
            ) from None

    def error_for_status(self):
        """The response itself, unless its status is an error: then raises
        the error `status_error` gives."""
        error = self.status_error()
        if error is not None:
            raise error
        return self

    def status_error(self, now=None):
        """The error of an error status (None for 1xx-3xx), as the Rust SDK
        and the host read it:

        ======================================================  ================
        401                                                     Auth
        403 with `x-ratelimit-remaining: 0`, `retry-after` or
        GitHub's "secondary rate limit" message                 RateLimited
        403 otherwise                                           Auth
        404, 410                                                NotFound
        409, 412                                                Conflict
        429                                                     RateLimited
        503 with `retry-after`                                  RateLimited
        408, 5xx                                                Transient
        other 4xx and above                                     Fatal
        ======================================================  ================

        The wait of `RateLimited` (whole seconds, at least 1): `retry-after`
        (seconds or an HTTP date); else, when `x-ratelimit-remaining` is 0,
        the time to `x-ratelimit-reset` (epoch seconds or ISO 8601); else 60
        for a 403 or a secondary limit, 1 for a bare 429. `now` (epoch
        seconds) is for tests.
        """
        status = self.status
        if status < 400:
            return None
        reason = REASONS.get(status)
        msg = (
            f"{self._prefix()}HTTP {status}{' ' + reason if reason else ''}: "
            f"{excerpt(self.body)}"
        )
        wait = self._rate_limit(int(_time.time()) if now is None else now)
        if wait is not None:
            return RateLimited(wait, msg)
        if status in (401, 403):
            return Auth(msg)
        if status in (404, 410):
            return NotFound(msg)
        if status in (409, 412):
            return Conflict(msg)
        if status == 408 or 500 <= status <= 599:
            return Transient(msg)
        return Fatal(msg)

    def _rate_limit(self, now):
        spent = (self.header("x-ratelimit-remaining") or "").strip() == "0"
        retry = self.header("retry-after")
        retry = retry_after(retry, now) if retry is not None else None
        secondary = self.status in (403, 429) and b"secondary rate limit" in self.body[:4096].lower()
        limited = {
            429: True,
            403: spent or retry is not None or secondary,
            503: retry is not None,
        }.get(self.status, False)
        if not limited:
            return None
        reset = None
        if spent and self.header("x-ratelimit-reset") is not None:
            reset = reset_in(self.header("x-ratelimit-reset"), now)
        wait = retry if retry is not None else reset
        if wait is None:
            wait = 60 if self.status == 403 or secondary or spent else 1
        return max(1, min(wait, U32_MAX))

    def _prefix(self):
        return f"{self.origin}: " if self.origin else ""

    def __repr__(self):
        return f"Response({self.status}, {self.origin or 'no request'})"


def send_batch(requests):
    """Sends many requests at once: the host runs them concurrently within
    the source's limits. Returns one answer per request, in order: a
    `Response`, or the `Error` (not raised) of a request that got none."""
    requests = list(requests)
    if not requests:
        return []
    wire = [r.to_wit() for r in requests]
    try:
        outcomes = _wit.http.send_batch(wire)
    except NotImplementedError:
        if _wit.IN_HOST:
            raise
        raise RuntimeError(NO_TRANSPORT) from None
    if len(outcomes) != len(requests):
        raise Fatal(f"host returned {len(outcomes)} answers for {len(requests)} requests")
    answers = []
    for request, outcome in zip(requests, outcomes):
        if isinstance(outcome, _wit.Err):
            answers.append(map_http_error(outcome.value, request.origin()))
        else:
            r = outcome.value
            answers.append(Response(r.status, r.headers, r.body, request.origin()))
    return answers


def checked(answer):
    """The `Response` of a `send_batch` answer with a success status; raises
    the answer's error (no response, or an error status) otherwise."""
    if isinstance(answer, Error):
        raise answer
    return answer.error_for_status()


def map_http_error(error, origin):
    """The error of a request that got no response (a WIT `http-error`):
    `denied` -> Fatal, `timeout` and `connection` -> Transient, `too-large`
    -> InvalidResponse; `origin` (`GET https://...`) prefixes the message."""
    h = _wit.http
    if isinstance(error, h.HttpError_Denied):
        return Fatal(f"{origin}: request denied by host policy: {error.value}")
    if isinstance(error, h.HttpError_Timeout):
        return Transient(f"{origin}: timed out")
    if isinstance(error, h.HttpError_Connection):
        return Transient(f"{origin}: connection failed: {error.value}")
    if isinstance(error, h.HttpError_TooLarge):
        return InvalidResponse(
            f"{origin}: response body larger than the host's cap of {error.value} bytes"
        )
    return Fatal(f"{origin}: unknown http-error {error!r}")


def encode(text):
    """Percent-encodes `text` as one query value or path segment:
    everything but `A-Z a-z 0-9 - . _ ~` becomes `%XX` (UTF-8 bytes)."""
    return urllib.parse.quote(str(text), safe="")


def quote(value):
    """`value` in double quotes, `"` and `\\` escaped with `\\`: a string in a
    query language (Confluence's CQL, PostgREST's filters)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def join(base, link):
    """`base` + `link`, unless `link` is already an absolute http(s) URL
    (a next-page link given by the API); one `/` between them."""
    if link[:8].lower().startswith(("http://", "https://")):
        return link
    base = base.rstrip("/")
    return f"{base}{'' if link.startswith('/') else '/'}{link}"


def link_rel(response, rel):
    """The target of the link with relation `rel` in the response's RFC 8288
    `Link` header (`<https://...?page=2>; rel="next"`), as written, or None."""
    header = response.header("link")
    if header is None:
        return None
    rest = header
    while "<" in rest:
        after = rest[rest.index("<") + 1 :]
        close = after.find(">")
        if close < 0:
            return None
        target = after[:close]
        following = after.find("<", close)
        end = len(after) if following < 0 else following
        for param in after[close + 1 : end].split(";"):
            name, eq, value = param.partition("=")
            if not eq or name.strip().lower() != "rel":
                continue
            rels = value.strip().rstrip(",").strip().strip('"').split()
            if any(r.lower() == rel.lower() for r in rels):
                return target
        rest = after[end:]
    return None


class Api:
    """One remote API: its base URL and the headers every request carries."""

    def __init__(self, base_url, headers=()):
        self.base_url = base_url.rstrip("/")
        self.headers = list(headers)

    def request(self, method, path):
        """`method` to base + `path`, with the default headers."""
        return Request(method, join(self.base_url, path), self.headers)

    def get(self, path):
        return self.request("GET", path)

    def follow(self, link):
        """A GET of a link the API gave: absolute links as given, others
        relative to the base URL."""
        return self.request("GET", link)


def excerpt(body):
    """The start of a body for messages: whitespace collapsed, at most 200
    characters."""
    words = []
    length = 0
    for word in body.decode("utf-8", "replace").split():
        words.append(word)
        length += len(word) + 1
        if length > EXCERPT_CHARS:
            break
    text = " ".join(words)
    if not text:
        return "(empty body)"
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _find(headers, name):
    name = name.lower()
    return next((v for k, v in headers if k.lower() == name), None)


def _digits(text):
    return int(text) if text.isascii() and text.isdigit() else None


def retry_after(value, now):
    """`Retry-After` as seconds from `now`: delay-seconds or an HTTP date
    (`Thu, 01 Jan 2026 12:00:42 GMT`); None when it is neither."""
    value = value.strip()
    seconds = _digits(value)
    if seconds is not None:
        return min(seconds, U64_MAX)
    parts = value.split()
    if len(parts) != 6 or parts[5] != "GMT" or parts[2] not in _MONTHS:
        return None
    day, year = _digits(parts[1]), _digits(parts[3])
    if day is None or year is None:
        return None
    at = _epoch(year, _MONTHS.index(parts[2]) + 1, day, parts[4])
    return None if at is None else max(0, at - now)


def reset_in(value, now):
    """`x-ratelimit-reset` as seconds from `now`: epoch seconds (GitHub) or
    ISO 8601 (`2026-01-01T12:01Z`); None when it is neither."""
    value = value.strip()
    at = _digits(value)
    if at is not None:
        return max(0, at - now)
    date, t, rest = value.partition("T")
    ymd = date.split("-")
    if not t or len(ymd) < 3:
        return None
    try:
        year, month, day = int(ymd[0]), int(ymd[1]), int(ymd[2])
        cut = min((i for i, c in enumerate(rest) if c in "Zz+-"), default=None)
        if cut is None:
            return None
        clock, offset = rest[:cut], rest[cut:]
        if offset in ("Z", "z"):
            shift = 0
        else:
            h, _, m = offset[1:].partition(":")
            shift = (-1 if offset[0] == "-" else 1) * (int(h) * 3600 + int(m or "0") * 60)
    except ValueError:
        return None
    at = _epoch(year, month, day, clock.split(".")[0])
    return None if at is None else max(0, max(0, at - shift) - now)


def _epoch(year, month, day, clock):
    """Epoch seconds of a UTC date and `HH:MM[:SS]`, or None."""
    hms = clock.split(":")
    numbers = [_digits(x) for x in hms[:3]]
    if len(hms) < 2 or None in numbers:
        return None
    hours, minutes = numbers[0], numbers[1]
    seconds = numbers[2] if len(numbers) > 2 else 0
    if not (1 <= month <= 12 and 1 <= day <= 31 and hours <= 23 and minutes <= 59):
        return None
    days = days_from_civil(year, month, day)
    if days < 0:
        return None
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of the proleptic Gregorian date `(y, m, d)`."""
    y = y - 1 if m <= 2 else y
    era = y // 400
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
