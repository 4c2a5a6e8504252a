// Native unit tests of the plugin: `node --import ../../sdk/js/register.js --test`
// (`npm test`). `list` and `fetch` run under node; the SDK's test transport
// answers the requests the host would send.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Response, SourceError, Settings } from '../../../sdk/js/src/index.js';
import { replay, serve } from '../../../sdk/js/src/testing.js';
import { source } from '../src/app.js';
import { items } from '../src/items.js';

const configured = (baseUrl) => items.configure(new Settings({ base_url: baseUrl }));
const text = (bytes) => new TextDecoder().decode(bytes);

test('list and fetch under a test transport', () => {
  const item =
    '{"id":"item-1","version":"2","title":"T","content":"text","updated_at":"2025-01-01T00:00:00Z","tags":["a"]}';
  const served = serve((req) => {
    switch (req.url) {
      case 'http://h/items?limit=2&since=7':
        return new Response(
          200,
          [],
          '{"items":[{"id":"item-1","version":"2","updated_at":null}],"deleted":["item-0"],"next_cursor":"c2","watermark":"9","total":5}',
        );
      case 'http://h/items/item-1':
        return new Response(200, [], item);
      case 'http://h/items/item-2':
        return new Response(500, [], 'boom');
      default:
        return new Response(404, [], '{"error":"not_found"}');
    }
  });
  try {
    const config = configured('http://h/');
    const page = items.list(config, 'items', { limit: 2, since: '7', detail: 'full' });
    assert.equal(page.records.length, 1);
    assert.equal(page.records[0].content, undefined, 'a partial record');
    assert.equal(page.records[0].updatedAt, undefined, 'null is an absent option');
    assert.deepEqual(page.deleted, ['item-0']);
    assert.equal(page.nextCursor, 'c2');
    assert.equal(page.watermark, '9');
    assert.equal(page.totalHint, 5n, 'a u64 is a BigInt');

    const fetched = items.fetch(config, 'items', ['item-1', 'item-2', 'a b']);
    assert.equal(fetched[0].id, 'item-1');
    assert.equal(text(fetched[0].content), 'text');
    assert.equal(fetched[0].metadata, '{"tags":["a"]}');
    assert.equal(fetched[1].kind, 'transient');
    assert.equal(fetched[2].kind, 'not-found');
    assert.match(fetched[2].message, /\/items\/a%20b/);
    assert.deepEqual(served.sent(), [
      'GET http://h/items?limit=2&since=7',
      'GET http://h/items/item-1',
      'GET http://h/items/item-2',
      'GET http://h/items/a%20b',
    ]);
    assert.throws(
      () => items.list(config, 'nope', { limit: 2 }),
      (e) => e instanceof SourceError && e.kind === 'unsupported',
    );
    assert.equal(served.sent().length, 4, 'an unknown stream sends nothing');
  } finally {
    served.close();
  }
});

// The Rust example sends the same requests byte for byte, so the cassette
// its `synchost pull --record` wrote serves this plugin too.
const cassette = fileURLToPath(
  new URL('../../example-items/tests/cassettes/first-pull', import.meta.url),
);

test('a first pull replays from a cassette', () => {
  const served = replay(cassette);
  try {
    const config = configured('http://127.0.0.1:8080');
    const ids = [];
    let cursor;
    do {
      const page = items.list(config, 'items', { cursor, limit: 2, detail: 'full' });
      ids.push(...page.records.map((r) => r.id));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    assert.deepEqual(ids, ['item-000001', 'item-000002', 'item-000003']);
    const fetched = items.fetch(config, 'items', [...ids, 'item-000404']);
    assert.equal(fetched[0].title, 'Zephyr ember quartz raven');
    assert.ok(fetched.slice(0, 3).every((r) => r.title && r.content));
    assert.equal(fetched[3].kind, 'not-found');
    assert.match(fetched[3].message, /no item item-000404/);
  } finally {
    served.close();
  }
});

test('the component export speaks WIT', () => {
  assert.equal(source.describe().name, 'js-items');
  assert.throws(
    () => source.configure([['base_url', 'ftp://x']]),
    (e) => e.tag === 'invalid-config' && /base_url/.test(e.val),
  );
  source.configure([['base_url', 'http://h']]);
  const served = serve(() => new Response(429, [['retry-after', '7']], ''));
  try {
    assert.throws(
      () => source.list('items', undefined, undefined, 10, 'full'),
      (e) => e.tag === 'rate-limited' && e.val === 7,
    );
    assert.deepEqual(
      source.fetch('items', ['x']).map((r) => [r.tag, r.val.tag]),
      [['err', 'rate-limited']],
    );
    assert.deepEqual(source.push('items', [{}]), [
      { tag: 'failed', val: { tag: 'unsupported', val: 'stream `items` does not support push' } },
    ]);
  } finally {
    served.close();
  }
});
