/**
 * The host's imports, in one place: `synchost:source/http@0.2.0` and
 * `synchost:source/log@0.2.0`. Inside the component they are the host's;
 * under node (unit tests) `synchost-sdk/register` maps these two specifiers
 * to `native/host.js`, the test transport of `testing.js`.
 *
 * @module
 */

export { sendBatch } from 'synchost:source/http@0.2.0';
export { log } from 'synchost:source/log@0.2.0';
