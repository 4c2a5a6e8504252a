/**
 * node module-resolution hooks (registered by `register.js`): the host's
 * imports resolve to `host.js` beside this file.
 *
 * @module
 */

const HOST = new URL('./host.js', import.meta.url).href;
const IMPORTS = new Set(['synchost:source/http@0.2.0', 'synchost:source/log@0.2.0']);

export async function resolve(specifier, context, nextResolve) {
  if (IMPORTS.has(specifier)) {
    return { url: HOST, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
