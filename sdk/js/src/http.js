/**
 * HTTP through the host: the plugin's only way to reach the network.
 *
 * Build a {@link Request}, `send()` it (or many at once with
 * {@link sendBatch}), turn error statuses into classified errors with
 * {@link Response#errorForStatus}, and decode the body with
 * {@link Response#json}:
 *
 * ```js
 * const listing = Request.get(`${base}/items`)
 *   .query('limit', limit)
 *   .queryOpt('cursor', cursor)
 *   .send()
 *   .errorForStatus()
 *   .json();
 * ```
 *
 * The host applies its policy to every request (allowed hosts only,
 * credentials added by the host: never set `authorization` yourself) and
 * retries connection failures, 5xx and 429 before the plugin sees the
 * outcome. So a plugin never retries or sleeps: it maps the final outcome to
 * a {@link SourceError} and returns. `fetch()` (the web API) is not the way
 * out: the host denies every `wasi:http` request.
 *
 * @module
 */

import { sendBatch as hostSendBatch } from './host.js';
import { SourceError } from './errors.js';

/** How many characters of a body error messages quote. */
const EXCERPT_CHARS = 200;

const encoder = new TextEncoder();

/** An HTTP request to send through the host. */
export class Request {
  /**
   * @param {string} method upper case: GET, POST, …
   * @param {string} url absolute http(s) URL
   */
  constructor(method, url) {
    this.method = method;
    this.url = url;
    /** @type {[string, string][]} */
    this.headers = [];
    /** @type {Uint8Array | undefined} */
    this.body = undefined;
    /** @type {number | undefined} */
    this.timeoutMs = undefined;
  }

  static get(url) {
    return new Request('GET', url);
  }

  static post(url) {
    return new Request('POST', url);
  }

  static put(url) {
    return new Request('PUT', url);
  }

  static patch(url) {
    return new Request('PATCH', url);
  }

  static delete(url) {
    return new Request('DELETE', url);
  }

  static head(url) {
    return new Request('HEAD', url);
  }

  /** Adds a header (an `authorization` set here is replaced by the host's credential). */
  header(name, value) {
    this.headers.push([name, String(value)]);
    return this;
  }

  /**
   * Appends `name=value` to the URL, both percent-encoded (numbers and
   * BigInts are written in decimal).
   */
  query(name, value) {
    const sep = !this.url.includes('?') ? '?' : /[?&]$/.test(this.url) ? '' : '&';
    this.url += `${sep}${encode(name)}=${encode(String(value))}`;
    return this;
  }

  /** Like {@link Request#query} unless `value` is `undefined` or `null`. */
  queryOpt(name, value) {
    return value === undefined || value === null ? this : this.query(name, value);
  }

  /** Sets the body to `value` as JSON, with `content-type: application/json` unless set. */
  json(value) {
    this.body = encoder.encode(JSON.stringify(value));
    if (findHeader(this.headers, 'content-type') === undefined) {
      this.header('content-type', 'application/json');
    }
    return this;
  }

  /** Sets a raw body: text (sent as UTF-8) or bytes. */
  setBody(body) {
    this.body = typeof body === 'string' ? encoder.encode(body) : body;
    return this;
  }

  /** Sets this request's timeout (the host clamps it to its own limit). */
  timeout(ms) {
    this.timeoutMs = ms;
    return this;
  }

  /**
   * Sends the request through the host and returns the final response (any
   * status: chain `errorForStatus()`). Throws the {@link SourceError} of a
   * request that got no response ({@link mapHttpError}).
   *
   * @returns {Response}
   */
  send() {
    const [outcome] = sendBatch([this]);
    if (outcome instanceof SourceError) throw outcome;
    return outcome;
  }

  /** `METHOD url`, for messages. */
  toString() {
    return `${this.method} ${this.url}`;
  }
}

/**
 * Sends many requests at once: the host runs them concurrently within the
 * source's limits. One result per request, in order: a {@link Response}, or
 * the {@link SourceError} of a request that got no response (returned, not
 * thrown, so that one failure does not hide the other answers). An
 * `undefined` in `requests` is not sent and answered `undefined`, so that
 * the answers stay aligned with what they answer.
 *
 * @param {(Request | undefined)[]} requests
 * @returns {(Response | SourceError | undefined)[]}
 */
export function sendBatch(requests) {
  const sent = requests.filter((r) => r !== undefined);
  if (sent.length === 0) return requests.map(() => undefined);
  const answers = hostSendBatch(
    sent.map((r) => ({
      method: r.method,
      url: r.url,
      headers: r.headers,
      body: r.body,
      timeoutMs: r.timeoutMs,
    })),
  );
  let next = 0;
  return requests.map((request) => {
    if (request === undefined) return undefined;
    const answer = answers[next++];
    if (answer === undefined) {
      return SourceError.fatal('host returned fewer responses than requests');
    }
    const origin = request.toString();
    if (answer.tag === 'err') return mapHttpError(answer.val, origin);
    const { status, headers, body } = answer.val;
    return new Response(status, headers, body, origin);
  });
}

/**
 * Maps a request that got no response (the WIT `http-error`, `{ tag, val }`)
 * to a {@link SourceError}; `origin` (`GET https://…`) prefixes the message.
 *
 * | `http-error` | error                                       |
 * |--------------|---------------------------------------------|
 * | `denied`     | `fatal` ("request denied by host policy")   |
 * | `timeout`    | `transient`                                 |
 * | `connection` | `transient`                                 |
 * | `too-large`  | `invalid-response` (the value is a BigInt)  |
 *
 * @param {{ tag: string, val?: string | bigint }} error
 * @param {string} origin
 */
export function mapHttpError(error, origin) {
  switch (error.tag) {
    case 'denied':
      return SourceError.fatal(`${origin}: request denied by host policy: ${error.val}`);
    case 'timeout':
      return SourceError.transient(`${origin}: timed out`);
    case 'connection':
      return SourceError.transient(`${origin}: connection failed: ${error.val}`);
    case 'too-large':
      return SourceError.invalidResponse(
        `${origin}: response body larger than the host's cap of ${error.val} bytes`,
      );
    default:
      return SourceError.fatal(`${origin}: unknown http-error ${JSON.stringify(error.tag)}`);
  }
}

/** The final response to a {@link Request}. */
export class Response {
  /**
   * @param {number} status
   * @param {[string, string][]} headers names in lower case
   * @param {Uint8Array | string} body
   * @param {string} [origin] `METHOD url` of the request, for messages
   */
  constructor(status, headers = [], body = new Uint8Array(), origin = '') {
    this.status = status;
    this.headers = headers;
    /** @type {Uint8Array} */
    this.body = typeof body === 'string' ? encoder.encode(body) : body;
    this.origin = origin;
  }

  /** True for 2xx. */
  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  /** The first value of header `name` (case-insensitive). */
  header(name) {
    return findHeader(this.headers, name);
  }

  /** The body as UTF-8 text; throws `invalid-response` if it is not UTF-8. */
  text() {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.body);
    } catch (e) {
      throw SourceError.invalidResponse(`${this.prefix()}body is not UTF-8: ${e.message}`);
    }
  }

  /** The body decoded from JSON; throws `invalid-response` quoting its start otherwise. */
  json() {
    const text = this.text();
    try {
      return JSON.parse(text);
    } catch (e) {
      throw SourceError.invalidResponse(
        `${this.prefix()}unexpected JSON (HTTP ${this.status}): ${e.message}; body: ${excerpt(text)}`,
      );
    }
  }

  /** This response, unless its status is an error: then throws {@link Response#statusError}. */
  errorForStatus() {
    const error = this.statusError();
    if (error) throw error;
    return this;
  }

  /**
   * The {@link SourceError} of an error status; `undefined` below 400. The
   * same rules as the Rust SDK's `Response::status_error` (both pass
   * `sdk/conformance/rate-limits.json`):
   *
   * | status                                             | kind           |
   * |----------------------------------------------------|----------------|
   * | 401                                                | `auth`         |
   * | 403 with `x-ratelimit-remaining: 0`, `retry-after` or GitHub's secondary-limit message | `rate-limited` |
   * | 403 otherwise                                      | `auth`         |
   * | 404, 410                                           | `not-found`    |
   * | 409, 412                                           | `conflict`     |
   * | 429                                                | `rate-limited` |
   * | 503 with `retry-after`                             | `rate-limited` |
   * | 408, 5xx                                           | `transient`    |
   * | other 4xx and above                                | `fatal`        |
   *
   * The wait: `retry-after` (seconds or an HTTP date); else, when
   * `x-ratelimit-remaining` is 0, the time to `x-ratelimit-reset` (epoch
   * seconds or ISO 8601); else 60 for a 403 or a secondary limit, 1 for a
   * bare 429.
   *
   * @param {number} [now] epoch seconds (tests)
   * @returns {SourceError | undefined}
   */
  statusError(now = Math.floor(Date.now() / 1000)) {
    const status = this.status;
    if (status < 400) return undefined;
    const message = `${this.prefix()}HTTP ${status}: ${excerpt(decodeLossy(this.body))}`;
    const wait = this.rateLimitWait(now);
    if (wait !== undefined) return SourceError.rateLimited(wait, message);
    if (status === 401 || status === 403) return SourceError.auth(message);
    if (status === 404 || status === 410) return SourceError.notFound(message);
    if (status === 409 || status === 412) return SourceError.conflict(message);
    if (status === 408 || (status >= 500 && status <= 599)) return SourceError.transient(message);
    return SourceError.fatal(message);
  }

  /** The wait (seconds, before clamping) a rate-limit answer asks for; `undefined` when it is none. */
  rateLimitWait(now) {
    const spent = this.header('x-ratelimit-remaining')?.trim() === '0';
    const retryAfter = parseRetryAfter(this.header('retry-after'), now);
    const secondary =
      (this.status === 403 || this.status === 429) &&
      /secondary rate limit/i.test(decodeLossy(this.body.subarray(0, 4096)));
    const limited =
      this.status === 429 ||
      (this.status === 403 && (spent || retryAfter !== undefined || secondary)) ||
      (this.status === 503 && retryAfter !== undefined);
    if (!limited) return undefined;
    const reset = spent ? parseReset(this.header('x-ratelimit-reset'), now) : undefined;
    return retryAfter ?? reset ?? (this.status === 403 || secondary || spent ? 60 : 1);
  }

  prefix() {
    return this.origin ? `${this.origin}: ` : '';
  }
}

/** `Retry-After`: delay-seconds or an HTTP date (IMF-fixdate), as seconds from `now`. */
function parseRetryAfter(value, now) {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  if (!/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(v)) return undefined;
  return secondsUntil(Date.parse(v), now);
}

/** `x-ratelimit-reset`: epoch seconds or ISO 8601, as seconds from `now`. */
function parseReset(value, now) {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Math.max(Number(v) - now, 0);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/.test(v)) {
    return undefined;
  }
  return secondsUntil(Date.parse(v.toUpperCase()), now);
}

function secondsUntil(ms, now) {
  return Number.isNaN(ms) ? undefined : Math.max(Math.floor(ms / 1000) - now, 0);
}

function findHeader(headers, name) {
  const lower = name.toLowerCase();
  return headers.find(([k]) => k.toLowerCase() === lower)?.[1];
}

function decodeLossy(bytes) {
  return new TextDecoder('utf-8').decode(bytes);
}

/** The start of a body for a message: whitespace collapsed, at most 200 characters. */
function excerpt(text) {
  const words = text.split(/\s+/).filter(Boolean).join(' ');
  if (!words) return '(empty body)';
  const chars = Array.from(words);
  return chars.length > EXCERPT_CHARS ? `${chars.slice(0, EXCERPT_CHARS).join('')}…` : words;
}

/**
 * Percent-encodes `s` for a URL path segment or a query value: everything
 * but ASCII letters, digits and `-._~` (as the Rust SDK's `http::encode`).
 *
 * @param {string} s
 */
export function encode(s) {
  let out = '';
  for (const byte of encoder.encode(s)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Joins a base URL (trailing `/` dropped) and path segments, each
 * percent-encoded: `url('http://h/', 'items', 'a b')` is `http://h/items/a%20b`.
 *
 * @param {string} base
 * @param {...(string | number)} segments
 */
export function url(base, ...segments) {
  return [base.replace(/\/+$/, ''), ...segments.map((s) => encode(String(s)))].join('/');
}
