/**
 * `exportSource`: a plugin definition as the component's `source` export.
 *
 * @module
 */

import { SourceError } from './errors.js';
import { Settings } from './settings.js';

/**
 * @typedef {object} ListRequest
 * @property {string} [cursor] the previous page's `nextCursor`; absent for the first page
 * @property {string} [since] the stream's last complete watermark; absent for a full listing
 * @property {number} limit the most records the page may hold
 * @property {'full' | 'ids-only'} detail `ids-only`: ids and versions suffice
 */

/**
 * @template C
 * @typedef {object} Definition
 * @property {() => object} describe the manifest ({@link import('./types.js').manifest}); no I/O
 * @property {(settings: Settings) => C} configure validates the settings and
 *   returns the configuration every later call receives first
 * @property {(config: C) => object[]} [streams] default: the manifest's
 * @property {(config: C, stream: string, request: ListRequest) => object} list one page
 * @property {(config: C, stream: string, ids: string[]) => (object | Error)[]} [fetch]
 *   one complete record or one error per id, in order
 * @property {(config: C, stream: string, changes: object[]) => (object | Error)[]} [push]
 *   one `outcome` or error per change, in order (see push.js)
 * @property {(config: C, stream: string, changes: object[]) => (object | Error)[]} [reconcile]
 *   one `reconciliation` or error per change, in order; reads only
 */

/**
 * The `source` export of a plugin: `export const source = exportSource({...})`.
 *
 * It keeps the configuration `configure` returned, hands it to every call,
 * and converts at the boundary: a thrown {@link SourceError} becomes the WIT
 * error (`{ tag, val }`); anything else thrown is a bug: its message and
 * stack go to stderr and the call traps, so the host's error shows them. A
 * `fetch`, `push` or `reconcile` element that is an `Error` becomes that
 * input's error (`failed` for push and reconcile); a thrown `SourceError`
 * fails every input. Without `fetch`, `push` or `reconcile`, every input
 * is `unsupported`.
 *
 * @template C
 * @param {Definition<C>} plugin
 */
export function exportSource(plugin) {
  let config;
  let configured = false;
  const instance = () => {
    if (!configured) {
      throw SourceError.fatal('plugin is not configured: the host must call `configure` first');
    }
    return config;
  };
  /** One answer per input of `method`, an `Error` element wrapped by `failed`. */
  const each = (method, stream, inputs, failed, ok = (v) => v) =>
    perInput(method, inputs, () => {
      if (!plugin[method]) {
        const verb = method === 'fetch' ? 'fetch' : 'push';
        throw SourceError.unsupported(`stream \`${stream}\` does not support ${verb}`);
      }
      return plugin[method](instance(), stream, inputs);
    }).map((r) => (r instanceof Error ? failed(witError(r)) : ok(r)));
  const failed = (error) => ({ tag: 'failed', val: error });
  return {
    describe: () => guard(() => plugin.describe()),
    configure(pairs) {
      configured = false;
      config = guard(() => plugin.configure(new Settings(pairs)));
      configured = true;
    },
    streams: () =>
      guard(() =>
        plugin.streams ? plugin.streams(instance()) : plugin.describe().streams,
      ),
    list: (stream, cursor, since, limit, detail) =>
      guard(() => plugin.list(instance(), stream, { cursor, since, limit, detail })),
    fetch: (stream, ids) =>
      each(
        'fetch',
        stream,
        ids,
        (error) => ({ tag: 'err', val: error }),
        (record) => ({ tag: 'ok', val: record }),
      ),
    push: (stream, changes) => each('push', stream, changes, failed),
    reconcile: (stream, changes) => each('reconcile', stream, changes, failed),
  };
}

/**
 * `f()`, with a thrown {@link SourceError} rethrown as the WIT error and
 * anything else reported as a crash.
 */
function guard(f) {
  try {
    return f();
  } catch (e) {
    throw witError(e);
  }
}

/** `f()`'s one result per input; a thrown {@link SourceError} fails every input. */
function perInput(method, inputs, f) {
  let results;
  try {
    results = f();
  } catch (e) {
    witError(e); // a crash unless it is a SourceError
    return inputs.map(() => e);
  }
  if (!Array.isArray(results) || results.length !== inputs.length) {
    const n = Array.isArray(results) ? results.length : typeof results;
    const bug = SourceError.fatal(
      `plugin bug: ${method} returned ${n} results for ${inputs.length} inputs`,
    );
    return inputs.map(() => bug);
  }
  return results;
}

/**
 * The WIT error of a {@link SourceError}. Anything else is a bug: its
 * message and stack are written to stderr, and it is thrown on, which the
 * bindings turn into a trap (the host shows the stderr lines in its error).
 */
function witError(e) {
  if (e instanceof SourceError) return e.toWit();
  const text = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
  console.error(`plugin crashed: ${text.trimEnd()}`);
  throw e;
}
