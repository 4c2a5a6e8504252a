// js-network: a default componentize-js build (wasi:http linked, so the web
// `fetch` exists) that tries the network behind the host's back, for
// tests/tests/languages_js.rs. The setting `attack` picks what `list` does:
// - `fetch`: `fetch(base_url)` through wasi:http, which the host denies; the
//   outcome is returned as a fatal error quoting it;
// - `throw`: a TypeError from plugin code (a bug), which crashes the call
//   with its message and stack on stderr.
import { SourceError, exportSource, manifest, setting, stream } from '../../../sdk/js/src/index.js';

let baseUrl;
let attack;

const sdkSource = exportSource({
  describe() {
    return manifest({
      name: 'js-network',
      version: '0.1.0',
      description: 'Tries fetch() or crashes, on purpose (tests)',
      streams: [stream('items', 'Nothing, ever')],
      settings: [
        setting.required('base_url', 'Where fetch() goes'),
        setting.required('attack', '`fetch` or `throw`'),
      ],
    });
  },
  configure(settings) {
    baseUrl = settings.url('base_url');
    attack = settings.required('attack');
    return {};
  },
  list() {
    const missing = undefined;
    return missing.records;
  },
});

export const source = {
  ...sdkSource,
  list: (...args) => (attack === 'fetch' ? fetchList() : sdkSource.list(...args)),
};

/** `fetch` is asynchronous, so this `list` is too: its rejection is the call's error. */
async function fetchList() {
  let outcome;
  try {
    const response = await fetch(baseUrl);
    outcome = `fetch answered HTTP ${response.status}`;
  } catch (e) {
    outcome = `fetch failed: ${e}${e.cause ? `; cause: ${e.cause}` : ''}`;
  }
  throw SourceError.fatal(outcome).toWit();
}
