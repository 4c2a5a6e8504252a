/**
 * synchost-sdk for JavaScript: write a synchost source plugin as an ES
 * module, build it with componentize-js (docs/plugin-guide-js.md).
 *
 * - {@link exportSource}: the plugin itself (`export const source = exportSource({...})`).
 * - {@link record}, {@link page}, {@link manifest}, {@link stream},
 *   {@link setting}, {@link auth}, {@link blob}: the contract's values with
 *   defaults, in the shapes the bindings take.
 * - {@link Settings}: the values given to `configure`.
 * - {@link Request}, {@link sendBatch}, {@link Response}: HTTP through the
 *   host; HTTP status → {@link SourceError} mapping; {@link encode},
 *   {@link url}: URL helpers.
 * - {@link SourceError}: classified failures.
 * - {@link outcome}, {@link reconciliation}, {@link requireId},
 *   {@link requireBase}, {@link contentText}, {@link metadataOf}: `push`
 *   and `reconcile`.
 * - {@link log}: messages to the host's log.
 * - `testing.js` (node only): canned answers and cassette replay.
 *
 * @module
 */

export { SourceError } from './errors.js';
export { Request, Response, sendBatch, mapHttpError, encode, url } from './http.js';
export { Settings } from './settings.js';
export { record, blob, page, stream, setting, auth, manifest } from './types.js';
export { exportSource } from './source.js';
export { log } from './log.js';
export { outcome, reconciliation, requireId, requireBase, contentText, metadataOf } from './push.js';
