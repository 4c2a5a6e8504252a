"""Native tests of `list`, `fetch` and `push`: a test transport in the
host's place.

Inside the host, requests go through the host's `send-batch` import. In a
native test (plain CPython, `python3 -m unittest`) `serve` and `replay`
substitute that import (`wit_world.imports.http.send_batch` and `send`) with
a handler until the returned `Served` is closed::

    from synchost_sdk import testing
    from synchost_sdk.http import Response

    with testing.serve(lambda req: Response(200, body='{"items": []}')) as served:
        page = plugin.list("items", ListRequest(None, None, 10))
    assert served.sent() == ["GET http://h/items?limit=10"]

A handler gets each `synchost_sdk.http.Request` and answers a `Response`
(any status) or a no-response error: `Timeout()`, `Connection(why)`,
`Denied(why)`, `TooLarge(bytes)` (what the host reports after its retries).
Without a transport, sending raises `RuntimeError` saying so.

`replay(path)` answers from a cassette, the files `synchost pull --record
DIR` writes: a directory whose `*.json` files (in name order) each hold one
exchange, or one JSON file holding an exchange or an array of them::

    {"method": "GET", "url": "http://127.0.0.1:8080/items?limit=2",
     "status": 200, "headers": [["content-type", "application/json"]],
     "body": "{\\"items\\": []}"}

`status` and optional `headers` (`[name, value]` pairs or an object), or
`error` (`timeout`, `connection: WHY`, `denied: WHY`, `too-large: BYTES`)
for a request that got no response. The body: `body` as a string is that
text, any other JSON value is sent as compact JSON, `body_base64` is bytes.
Other fields (the request's headers and body) are ignored.

`Ok` and `Err` are the generated result cases, for tests of what the host
calls (`app.Source()`). Each request
gets the first unused exchange with its method and URL; one with none
fails with `AssertionError` naming it and the exchanges left.
"""

import base64
import json
import os

from . import _wit
from .http import Request, Response

_h = _wit.http

#: The generated `result` cases, to test the exported `Source` class (what
#: the host calls): `Err(error)` is raised, fetch answers are `Ok`/`Err`.
Ok = _wit.Ok
Err = _wit.Err

#: No-response answers a handler may give.
Timeout = _h.HttpError_Timeout
Connection = _h.HttpError_Connection
Denied = _h.HttpError_Denied
TooLarge = _h.HttpError_TooLarge

_NO_RESPONSE = (Timeout, Connection, Denied, TooLarge)
_installed = []


class Served:
    """The installed transport: what it answered so far, and `close()` (or
    the end of a `with` block) to uninstall it."""

    def __init__(self, handler):
        if _installed:
            raise RuntimeError("a test transport is already installed: close it first")
        self._handler = handler
        #: Every request answered so far, in the order sent.
        self.requests = []
        self._saved = (_h.send, _h.send_batch)
        _h.send, _h.send_batch = self._send, self._send_batch
        _installed.append(self)

    def sent(self):
        """`METHOD url` of every request answered so far, in order."""
        return [f"{r.method} {r.url}" for r in self.requests]

    def close(self):
        """Uninstalls the transport (again: nothing)."""
        if self in _installed:
            _h.send, _h.send_batch = self._saved
            _installed.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _answer(self, wire):
        request = Request.from_wit(wire)
        answer = self._handler(request)
        self.requests.append(request)
        if isinstance(answer, Response):
            return _wit.Ok(_h.Response(answer.status, answer.headers, answer.body))
        if isinstance(answer, _NO_RESPONSE):
            return _wit.Err(answer)
        raise TypeError(f"test handler answered {answer!r}: expected a Response or Timeout()...")

    def _send_batch(self, requests):
        return [self._answer(r) for r in requests]

    def _send(self, request):
        outcome = self._answer(request)
        if isinstance(outcome, _wit.Err):
            raise outcome
        return outcome.value


def serve(handler):
    """Installs `handler` (request -> answer) as the transport."""
    return Served(handler)


def replay(path):
    """Installs a transport answering from the cassette at `path` (a
    directory or a file). A malformed cassette raises `ValueError` naming the
    file, the exchange and the field."""
    unused = list(load(path))

    def answer(request):
        for i, exchange in enumerate(unused):
            if exchange["method"].upper() == request.method.upper() and exchange["url"] == request.url:
                return unused.pop(i)["answer"]
        left = ", ".join(f"{x['method']} {x['url']} ({x['file']})" for x in unused)
        raise AssertionError(
            f"cassette {path}: unexpected request {request.method} {request.url}; "
            f"unused exchanges: [{left}]"
        )

    return Served(answer)


def load(path):
    """The exchanges of the cassette at `path`, in order: dicts with
    `method`, `url`, `answer` (a `Response` or a no-response error) and
    `file`."""
    path = os.fspath(path)
    if os.path.isdir(path):
        files = sorted(
            os.path.join(path, name) for name in os.listdir(path) if name.endswith(".json")
        )
    else:
        files = [path]
    exchanges = []
    for file in files:
        with open(file, encoding="utf-8") as f:
            try:
                value = json.load(f)
            except ValueError as e:
                raise ValueError(f"{file}: not JSON: {e}") from None
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            try:
                exchanges.append(_exchange(item, file))
            except ValueError as e:
                raise ValueError(f"{file}: exchange {i}: {e}") from None
    return exchanges


def _exchange(v, file):
    if not isinstance(v, dict):
        raise ValueError("an exchange must be an object")

    def text(key):
        if not isinstance(v.get(key), str):
            raise ValueError(f"`{key}` must be a string")
        return v[key]

    method, url = text("method"), text("url")
    if "error" in v:
        answer = _http_error(v["error"])
        if answer is None:
            raise ValueError(
                "`error` must be `timeout`, `connection: WHY`, `denied: WHY` or `too-large: BYTES`"
            )
    else:
        status = v.get("status")
        if isinstance(status, bool) or not isinstance(status, int) or not 0 <= status <= 65535:
            raise ValueError("`status` must be an HTTP status code")
        answer = Response(status, _headers(v.get("headers")), _body(v))
    return {"method": method, "url": url, "answer": answer, "file": file}


def _headers(value):
    if value is None:
        return []
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        pairs = [tuple(p) for p in value]
    else:
        raise ValueError("`headers` must be a list of [name, value] pairs or an object")
    if not all(isinstance(k, str) and isinstance(x, str) for k, x in pairs):
        raise ValueError("`headers` names and values must be strings")
    return [(k.lower(), x) for k, x in pairs]


def _body(v):
    if "body" in v and "body_base64" in v:
        raise ValueError("give `body` or `body_base64`, not both")
    if "body_base64" in v:
        if not isinstance(v["body_base64"], str):
            raise ValueError("`body_base64` must be a string")
        try:
            text = "".join(v["body_base64"].split()).rstrip("=")
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except ValueError:
            raise ValueError("`body_base64` is not base64") from None
    if "body" not in v:
        return b""
    body = v["body"]
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _http_error(text):
    if text == "timeout":
        return Timeout()
    if not isinstance(text, str) or ": " not in text:
        return None
    kind, detail = text.split(": ", 1)
    if kind == "connection":
        return Connection(detail)
    if kind == "denied":
        return Denied(detail)
    if kind == "too-large" and detail.isascii() and detail.isdigit():
        return TooLarge(int(detail))
    return None
