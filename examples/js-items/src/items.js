/**
 * js-items: the items source in JavaScript, the same behaviour as the Rust
 * example (examples/example-items) for pulls. It syncs the "items" REST API
 * (docs/fake-items-api.md; served by `synchost-fake items`). One stream,
 * `items`, with delta syncs:
 * - `list` pages through `GET /items` and returns partial records (id,
 *   version, updated_at, no content), the ids the remote reports deleted,
 *   the next cursor and the watermark; the host then calls `fetch` only for
 *   the items whose version it does not have yet.
 * - `fetch` gets `GET /items/{id}` for a batch of ids in one `sendBatch`.
 *
 * The plugin never loops over pages, retries, sleeps or sends credentials:
 * the host does all of that.
 *
 * @module
 */

import {
  Request,
  SourceError,
  auth,
  manifest,
  page,
  record,
  sendBatch,
  setting,
  stream,
  url,
} from '../../../sdk/js/src/index.js';

const STREAM = 'items';

/** @typedef {{ baseUrl: string }} Config */

export const items = {
  describe() {
    return manifest({
      name: 'js-items',
      version: '0.1.0',
      description: 'Items from the items API (JavaScript)',
      streams: [stream(STREAM, 'Every item, with delta syncs', { delta: true })],
      settings: [
        setting.required('base_url', 'Root of the items API, e.g. http://127.0.0.1:8080'),
      ],
      maxPageSize: 1000,
      auth: auth.bearer('ITEMS_TOKEN'),
    });
  },

  /** @returns {Config} */
  configure(settings) {
    // Checks that it is an http(s) URL and trims a trailing slash.
    return { baseUrl: settings.url('base_url') };
  },

  /** @param {Config} config */
  list(config, name, { cursor, since, limit }) {
    checkStream(name);
    const listing = Request.get(url(config.baseUrl, 'items'))
      .query('limit', limit)
      .queryOpt('cursor', cursor)
      .queryOpt('since', since)
      .send()
      .errorForStatus() // 401 → auth, 429 → rate-limited, 5xx → transient, …
      .json();
    // Partial records: no content, so the host fetches the changed ones.
    const records = listing.items.map((s) =>
      record(s.id, s.version, { updatedAt: s.updated_at }),
    );
    return page(records, {
      deleted: listing.deleted,
      nextCursor: listing.next_cursor,
      watermark: listing.watermark,
      totalHint: listing.total,
    });
  },

  /** @param {Config} config */
  fetch(config, name, ids) {
    checkStream(name);
    // One request per id, all handed to the host at once; it runs them
    // concurrently within the source's limits. Results come back in order.
    const requests = ids.map((id) => Request.get(url(config.baseUrl, 'items', id)));
    return sendBatch(requests).map((response) => {
      if (response instanceof SourceError) return response;
      // A 404 becomes not-found for this id only.
      const error = response.statusError();
      return error ?? itemRecord(response.json());
    });
  },
};

/** A `GET /items/{id}` body as a complete record. */
export function itemRecord(item) {
  return record(item.id, item.version, {
    title: item.title,
    text: item.content,
    metadata: { tags: item.tags },
    updatedAt: item.updated_at,
  });
}

function checkStream(name) {
  if (name !== STREAM) throw SourceError.unknownStream(name);
}
