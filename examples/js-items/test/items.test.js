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
    assert.deepEqual(source.push('nope', [change('update', 'item-1')]), [
      { tag: 'failed', val: { tag: 'unsupported', val: 'unknown stream `nope`' } },
    ]);
  } finally {
    served.close();
  }
});

const encoder = new TextEncoder();

/** A change as the bindings give it. */
function change(op, id) {
  return {
    key: 'k1',
    op,
    id,
    baseVersion: id && '3',
    parentId: undefined,
    title: 'T',
    content: encoder.encode('text'),
    metadata: '{"tags":["a"]}',
  };
}

test('writes carry the key and the base version; answers become outcomes', () => {
  const item = (version) =>
    `{"id":"item-1","version":"${version}","title":"T","content":"theirs","updated_at":null,"tags":[],"change_key":"k0"}`;
  const served = serve((req) => {
    if (req.method === 'POST') return new Response(201, [], item('1'));
    if (req.method === 'PUT') return new Response(412, [], item('4'));
    return new Response(404, [], '');
  });
  try {
    const config = configured('http://h');
    const changes = [
      change('create', undefined),
      change('update', 'item-1'),
      change('delete', 'item-1'),
      change('update', undefined),
    ];
    const [created, conflict, deleted, refused] = items.push(config, 'items', changes);
    assert.deepEqual([created.tag, created.val.id], ['applied', 'item-1']);
    assert.deepEqual([conflict.tag, conflict.val.version], ['conflict', '4']);
    assert.deepEqual(deleted, { tag: 'applied', val: undefined });
    assert.equal(refused.kind, 'unsupported', 'no id: refused before sending');
    assert.deepEqual(served.sent(), [
      'POST http://h/items',
      'PUT http://h/items/item-1',
      'DELETE http://h/items/item-1',
    ]);
    const [post, put, del] = served.requests;
    const header = (req, name) => req.headers.find(([k]) => k === name)?.[1];
    assert.equal(header(post, 'idempotency-key'), 'k1');
    assert.deepEqual(JSON.parse(new TextDecoder().decode(post.body)), {
      title: 'T',
      content: 'text',
      tags: ['a'],
    });
    assert.equal(header(put, 'if-match'), '"3"');
    assert.equal(header(del, 'if-match'), '"3"');
  } finally {
    served.close();
  }
});

test('reconcile reads the key back', () => {
  const item =
    '{"id":"item-9","version":"1","title":"T","content":"text","updated_at":null,"tags":[],"change_key":"k1"}';
  const served = serve((req) =>
    req.url === 'http://h/items?change_key=k1'
      ? new Response(200, [], '{"items":[{"id":"item-9","version":"1"}],"deleted":[],"next_cursor":null}')
      : new Response(200, [], item),
  );
  try {
    const answers = items.reconcile(configured('http://h'), 'items', [
      change('create', undefined),
      change('update', 'item-9'),
      change('delete', 'item-9'),
    ]);
    assert.deepEqual(served.sent(), [
      'GET http://h/items?change_key=k1',
      'GET http://h/items/item-9',
      'GET http://h/items/item-9',
      'GET http://h/items/item-9',
    ]);
    assert.deepEqual([answers[0].tag, answers[0].val.id], ['applied', 'item-9']);
    assert.deepEqual([answers[1].tag, answers[1].val.version], ['applied', '1']);
    assert.deepEqual(
      [answers[2].tag, answers[2].val.version],
      ['conflict', '1'],
      'the delete did not happen and the item moved on from its base',
    );
  } finally {
    served.close();
  }
});
