/**
 * js-items: the items source in JavaScript, the same behaviour as the Rust
 * example (examples/example-items). It syncs the "items" REST API
 * (docs/fake-items-api.md; served by `synchost-fake items`). One stream,
 * `items`, with delta syncs:
 * - `list` pages through `GET /items` and returns partial records (id,
 *   version, updated_at, no content), the ids the remote reports deleted,
 *   the next cursor and the watermark; the host then calls `fetch` only for
 *   the items whose version it does not have yet.
 * - `fetch` gets `GET /items/{id}` for a batch of ids in one `sendBatch`.
 * - `push` writes with the API's preconditions: `POST /items` with an
 *   `Idempotency-Key`, `PUT` and `DELETE /items/{id}` with
 *   `If-Match: "<base version>"`; a 412 answers with the current item (a
 *   conflict). Every write stores the change's key as the item's
 *   `change_key`, which `reconcile` reads back after a crash.
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
  contentText,
  manifest,
  metadataOf,
  outcome,
  page,
  reconciliation,
  record,
  requireBase,
  requireId,
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
      streams: [stream(STREAM, 'Every item, with delta syncs and push', { delta: true, push: true })],
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

  /** @param {Config} config */
  push(config, name, changes) {
    checkStream(name);
    // One request per change, all sent at once; a change that cannot be
    // sent fails alone.
    const requests = changes.map((change) => attempt(() => write(config, change)));
    const answers = sendBatch(requests.map((r) => (r instanceof Error ? undefined : r)));
    return changes.map((change, i) =>
      requests[i] instanceof Error ? requests[i] : attempt(() => written(change.op, answers[i])),
    );
  },

  /**
   * Reads only. Updates and deletes: the item now. Creates: the item
   * carrying the change's key, if any (two rounds of requests).
   *
   * @param {Config} config
   */
  reconcile(config, name, changes) {
    checkStream(name);
    const lookups = sendBatch(
      changes.map((c) => {
        if (c.op === 'create') return Request.get(url(config.baseUrl, 'items')).query('change_key', c.key);
        return c.id ? Request.get(url(config.baseUrl, 'items', c.id)) : undefined;
      }),
    );
    // Creates: the id of the item that carries the key, if one does.
    const created = changes.map((c, i) =>
      c.op === 'create' ? attempt(() => itemOf(lookups[i])?.items[0]?.id) : undefined,
    );
    const items = sendBatch(
      created.map((id) => (typeof id === 'string' ? Request.get(url(config.baseUrl, 'items', id)) : undefined)),
    );
    return changes.map((change, i) =>
      attempt(() => {
        if (change.op === 'create') {
          if (created[i] instanceof Error) return created[i];
          if (created[i] === undefined) return reconciliation.notApplied();
          const item = itemOf(items[i]); // deleted since: the creation did take effect
          return reconciliation.applied(item && itemRecord(item));
        }
        // `push` refuses a change without an id before sending anything.
        if (!change.id) return reconciliation.notApplied();
        const item = itemOf(lookups[i]);
        if (!item) {
          return change.op === 'delete' ? reconciliation.applied() : reconciliation.conflict();
        }
        if (change.op === 'update' && item.change_key === change.key) {
          return reconciliation.applied(itemRecord(item));
        }
        if (item.version === change.baseVersion) return reconciliation.notApplied();
        return reconciliation.conflict(itemRecord(item));
      }),
    );
  },
};

/**
 * The write for one change. The key goes with every write (the fake keeps
 * it as the item's `change_key`; a repeated `POST` with the same key
 * returns the item it created), the base version is the precondition of
 * updates and deletes.
 */
function write(config, change) {
  const itemUrl = () => url(config.baseUrl, 'items', requireId(change));
  const ifMatch = () => `"${requireBase(change)}"`;
  let request;
  if (change.op === 'create') {
    request = Request.post(url(config.baseUrl, 'items')).json(itemBody(change));
  } else if (change.op === 'update') {
    request = Request.put(itemUrl()).header('if-match', ifMatch()).json(itemBody(change));
  } else {
    request = Request.delete(itemUrl()).header('if-match', ifMatch());
  }
  return request.header('idempotency-key', change.key);
}

/** A write's answer as an outcome. */
export function written(op, answer) {
  if (answer instanceof SourceError) return answer;
  if (op === 'delete' && (answer.status === 204 || answer.status === 404)) {
    return outcome.applied();
  }
  // The item moved on since the base: the body is the current item.
  if (answer.status === 412) return outcome.conflict(itemRecord(answer.json()));
  if (answer.status === 404) return outcome.conflict();
  return outcome.applied(itemRecord(answer.errorForStatus().json()));
}

/** The body of a `GET` answer; `undefined` for a 404. */
function itemOf(answer) {
  if (answer instanceof SourceError) throw answer;
  return answer.status === 404 ? undefined : answer.errorForStatus().json();
}

/** The JSON body of a create or update: title, text, and the metadata's tags. */
function itemBody(change) {
  const body = { title: change.title ?? '', content: contentText(change) };
  const { tags } = metadataOf(change);
  if (tags !== undefined) body.tags = tags;
  return body;
}

/** `f()`, or the {@link SourceError} it threw. */
function attempt(f) {
  try {
    return f();
  } catch (e) {
    if (e instanceof SourceError) return e;
    throw e;
  }
}

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
