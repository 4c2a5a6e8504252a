/**
 * The host's imports under node: what `register.js` maps
 * `synchost:source/http@0.2.0` and `synchost:source/log@0.2.0` to. Requests
 * go to the transport `testing.serve` or `testing.replay` installed; log
 * messages go to stderr.
 *
 * Same shapes as the component bindings: a request is
 * `{ method, url, headers: [name, value][], body?: Uint8Array, timeoutMs?: number }`,
 * each answer `{ tag: 'ok', val: { status, headers, body: Uint8Array } }` or
 * `{ tag: 'err', val: { tag: 'timeout' | 'connection' | 'denied' | 'too-large', val } }`.
 *
 * @module
 */

/** The installed transport: `(request) => answer`, or none. */
let transport;

const NO_TRANSPORT =
  'no test transport: sending a request outside the host needs one; ' +
  'call testing.serve(handler) or testing.replay(cassette) first';

/**
 * Installs `handler` (or removes it with `undefined`).
 *
 * @param {((request: object) => object) | undefined} handler
 */
export function setTransport(handler) {
  if (handler && transport) {
    throw new Error('a test transport is already installed: close() the one before');
  }
  transport = handler;
}

/** The WIT `send-batch`: one answer per request, in order. */
export function sendBatch(requests) {
  if (!transport) throw new Error(NO_TRANSPORT);
  return requests.map((request) => transport(request));
}

/** The WIT `log`, to stderr. */
export function log(level, message) {
  console.error(`plugin log ${String(level).toUpperCase()}: ${message}`);
}
