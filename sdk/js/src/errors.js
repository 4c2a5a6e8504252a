/**
 * The contract's `error` variant as a JavaScript exception.
 *
 * In the WIT bindings an error is a plain `{ tag, val }` object
 * (`{ tag: 'not-found', val: 'no item 7' }`, `{ tag: 'rate-limited', val: 30 }`).
 * Throw a {@link SourceError} instead: `exportSource` turns it into that
 * object, and anything else thrown (a `TypeError`, a bug) into a crash whose
 * message and stack the host shows, like a Rust panic.
 *
 * @module
 */

/**
 * The kinds of `error`, as the WIT names them. The host decides what happens
 * next by the kind (see wit/v0.2/source.wit, `variant error`).
 *
 * @typedef {'auth' | 'rate-limited' | 'transient' | 'not-found' | 'invalid-config'
 *   | 'invalid-response' | 'conflict' | 'unsupported' | 'fatal'} ErrorKind
 */

/**
 * The WIT form of an error: what the component's bindings take.
 *
 * @typedef {{ tag: ErrorKind, val: string | number }} WitError
 */

const KINDS = new Set([
  'auth',
  'rate-limited',
  'transient',
  'not-found',
  'invalid-config',
  'invalid-response',
  'conflict',
  'unsupported',
  'fatal',
]);

/** A classified failure: throw it (or return it for one id of `fetch`). */
export class SourceError extends Error {
  /**
   * @param {ErrorKind} kind
   * @param {string} message for `rate-limited`, the text of the error only:
   *   the wait is `seconds`
   * @param {number} [seconds] for `rate-limited`: how long to wait (whole
   *   seconds, at least 1)
   */
  constructor(kind, message, seconds) {
    if (!KINDS.has(kind)) {
      throw new TypeError(`unknown error kind ${JSON.stringify(kind)}`);
    }
    super(message);
    this.name = 'SourceError';
    /** @type {ErrorKind} */
    this.kind = kind;
    /** @type {number | undefined} */
    this.seconds = kind === 'rate-limited' ? clampSeconds(seconds ?? 1) : undefined;
  }

  /** Credentials are missing, wrong or expired: the run stops. */
  static auth(message) {
    return new SourceError('auth', message);
  }

  /** The remote asked to slow down for `seconds`; the host waits and repeats the call. */
  static rateLimited(seconds, message = `rate limited for ${seconds} s`) {
    return new SourceError('rate-limited', message, seconds);
  }

  /** A temporary failure; the host retries the call with backoff. */
  static transient(message) {
    return new SourceError('transient', message);
  }

  /** The item no longer exists; the host skips and records it. */
  static notFound(message) {
    return new SourceError('not-found', message);
  }

  /** A setting is wrong; say which. */
  static invalidConfig(message) {
    return new SourceError('invalid-config', message);
  }

  /** The remote answered with something the plugin cannot understand. */
  static invalidResponse(message) {
    return new SourceError('invalid-response', message);
  }

  /** A push was based on a version that is no longer current. */
  static conflict(message) {
    return new SourceError('conflict', message);
  }

  /** The plugin does not support this stream or operation. */
  static unsupported(message) {
    return new SourceError('unsupported', message);
  }

  /** `unsupported`: the plugin has no stream named `stream`. */
  static unknownStream(stream) {
    return new SourceError('unsupported', `unknown stream \`${stream}\``);
  }

  /** Anything else: the run stops with its checkpoint intact. */
  static fatal(message) {
    return new SourceError('fatal', message);
  }

  /**
   * The WIT variant: `{ tag, val }`, `val` the message, or for
   * `rate-limited` the seconds (a u32).
   *
   * @returns {WitError}
   */
  toWit() {
    return { tag: this.kind, val: this.kind === 'rate-limited' ? this.seconds : this.message };
  }
}

/** `seconds` as a u32 of at least 1. */
function clampSeconds(seconds) {
  const n = Math.floor(Number(seconds));
  if (!Number.isFinite(n)) return n > 0 ? 0xffffffff : 1;
  return Math.min(Math.max(n, 1), 0xffffffff);
}
