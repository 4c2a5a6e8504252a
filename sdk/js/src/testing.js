/**
 * Plugin code under node, with no host: a test transport answers the
 * requests the host would send. Run the tests with the SDK's hooks:
 *
 *     node --import <sdk>/register.js --test
 *
 * then, in a test:
 *
 * ```js
 * const served = serve((req) => new Response(200, [], '{"items": []}'));
 * // ... call the plugin ...
 * assert.deepEqual(served.sent(), ['GET http://h/items?limit=2']);
 * served.close();
 * ```
 *
 * or answer from a cassette that `synchost pull --record DIR` wrote:
 * `replay('tests/cassettes/first-pull')`. The format is the Rust SDK's
 * (`synchost_sdk::testing`, docs/plugin-guide.md "Testing a plugin"): a
 * directory of `*.json` files read in name order (or one file), each one
 * exchange or an array of them: `method`, `url`, then `status`, optional
 * `headers` (`[name, value]` pairs or an object), and `body` (a string is
 * that text, other JSON is sent compact) or `body_base64`; or `error`
 * (`timeout`, `connection: WHY`, `denied: WHY`, `too-large: BYTES`) instead
 * of a response. Each request gets the first unused exchange with its method
 * and URL; a request with none throws, naming it and what is left.
 *
 * @module
 */

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTransport } from './native/host.js';
import { Response } from './http.js';

export { Response };

/**
 * What a handler answers: a {@link Response}, or a request that got no
 * response as the WIT `http-error` (`{ tag: 'timeout' }`,
 * `{ tag: 'connection', val: 'refused' }`, …).
 *
 * @typedef {Response | { tag: string, val?: unknown }} Answer
 */

/** The installed transport; `close()` uninstalls it. */
export class Served {
  constructor() {
    /** Every request answered so far, in order (`{ method, url, headers, body }`). */
    this.requests = [];
  }

  /** `METHOD url` of every request answered so far. */
  sent() {
    return this.requests.map((r) => `${r.method} ${r.url}`);
  }

  close() {
    setTransport(undefined);
  }
}

/**
 * Installs `handler` as the transport: every request sent is answered by it.
 * Throws if one is installed already.
 *
 * @param {(request: { method: string, url: string, headers: [string, string][], body?: Uint8Array }) => Answer} handler
 * @returns {Served}
 */
export function serve(handler) {
  const served = new Served();
  setTransport((request) => {
    served.requests.push(request);
    const answer = handler(request);
    return answer instanceof Response
      ? { tag: 'ok', val: { status: answer.status, headers: answer.headers, body: answer.body } }
      : { tag: 'err', val: answer };
  });
  return served;
}

/**
 * Installs a transport answering from the cassette at `path` (a directory or
 * a file). Throws when it cannot be read or an exchange is malformed (naming
 * the file and the field).
 *
 * @param {string} path
 * @returns {Served}
 */
export function replay(path) {
  const unused = load(path);
  return serve((request) => {
    const i = unused.findIndex(
      (x) => x.method.toUpperCase() === request.method.toUpperCase() && x.url === request.url,
    );
    if (i < 0) {
      const left = unused.map((x) => `${x.method} ${x.url} (${x.file})`).join(', ');
      throw new Error(
        `cassette ${path}: unexpected request ${request.method} ${request.url}; unused exchanges: [${left}]`,
      );
    }
    return unused.splice(i, 1)[0].answer;
  });
}

function load(path) {
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((name) => name.endsWith('.json'))
        .sort()
        .map((name) => join(path, name))
    : [path];
  return files.flatMap((file) => {
    let value;
    try {
      value = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`cassette ${file}: not JSON: ${e.message}`);
    }
    return (Array.isArray(value) ? value : [value]).map((item, i) => {
      try {
        return exchange(item, file);
      } catch (e) {
        throw new Error(`cassette ${file}: exchange ${i}: ${e.message}`);
      }
    });
  });
}

function exchange(v, file) {
  const text = (key) => {
    if (typeof v?.[key] !== 'string') throw new Error(`\`${key}\` must be a string`);
    return v[key];
  };
  const base = { method: text('method'), url: text('url'), file };
  if (v.error !== undefined) {
    const error = typeof v.error === 'string' ? httpError(v.error) : undefined;
    if (!error) {
      throw new Error(
        '`error` must be `timeout`, `connection: WHY`, `denied: WHY` or `too-large: BYTES`',
      );
    }
    return { ...base, answer: error };
  }
  if (!Number.isInteger(v.status) || v.status < 0 || v.status > 65535) {
    throw new Error('`status` must be an HTTP status code');
  }
  return { ...base, answer: new Response(v.status, headers(v.headers), body(v)) };
}

function headers(h) {
  if (h === undefined || h === null) return [];
  const pairs = Array.isArray(h) ? h : typeof h === 'object' ? Object.entries(h) : undefined;
  const valid =
    pairs &&
    pairs.every((p) => Array.isArray(p) && p.length === 2 && p.every((s) => typeof s === 'string'));
  if (!valid) throw new Error('`headers` must be [name, value] string pairs or an object of strings');
  return pairs.map(([k, val]) => [k.toLowerCase(), val]);
}

function body(v) {
  if (v.body !== undefined && v.body_base64 !== undefined) {
    throw new Error('give `body` or `body_base64`, not both');
  }
  if (v.body_base64 !== undefined) {
    if (typeof v.body_base64 !== 'string' || !/^[A-Za-z0-9+/=\s]*$/.test(v.body_base64)) {
      throw new Error('`body_base64` is not base64');
    }
    return new Uint8Array(Buffer.from(v.body_base64, 'base64'));
  }
  if (v.body === undefined) return '';
  return typeof v.body === 'string' ? v.body : JSON.stringify(v.body);
}

/** A recorded `error` as the WIT `http-error`. */
function httpError(text) {
  if (text === 'timeout') return { tag: 'timeout' };
  const at = text.indexOf(': ');
  if (at < 0) return undefined;
  const [kind, detail] = [text.slice(0, at), text.slice(at + 2)];
  if (kind === 'connection' || kind === 'denied') return { tag: kind, val: detail };
  if (kind === 'too-large' && /^\d+$/.test(detail)) return { tag: kind, val: BigInt(detail) };
  return undefined;
}
