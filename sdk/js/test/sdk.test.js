// The SDK's own tests: `node --import ./register.js --test` (`npm test`).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  Request,
  Response,
  SourceError,
  Settings,
  blob,
  contentText,
  encode,
  exportSource,
  manifest,
  metadataOf,
  outcome,
  page,
  record,
  requireBase,
  requireId,
  sendBatch,
  setting,
  stream,
  url,
} from '../src/index.js';
import { replay, serve } from '../src/testing.js';

const isKind = (kind) => (e) => e instanceof SourceError && e.kind === kind;

test('error statuses follow the shared rate-limit vectors', () => {
  const vectors = JSON.parse(
    readFileSync(new URL('../../conformance/rate-limits.json', import.meta.url), 'utf8'),
  );
  for (const c of vectors.cases) {
    const response = new Response(c.status, Object.entries(c.headers), c.body);
    const error = response.statusError(vectors.now);
    if (c.expect.wait_s !== undefined) {
      assert.equal(error?.kind, 'rate-limited', c.name);
      const wait = Math.min(Math.max(c.expect.wait_s, 1), 0xffffffff);
      assert.equal(error.seconds, wait, c.name);
      assert.deepEqual(error.toWit(), { tag: 'rate-limited', val: wait }, c.name);
    } else {
      assert.equal(error?.kind, c.expect.error, c.name);
    }
  }
});

test('the other statuses', () => {
  const kind = (status) => new Response(status, [], 'x').statusError()?.kind;
  assert.equal(kind(200), undefined);
  assert.equal(kind(304), undefined);
  assert.equal(kind(401), 'auth');
  assert.equal(kind(410), 'not-found');
  assert.equal(kind(409), 'conflict');
  assert.equal(kind(412), 'conflict');
  assert.equal(kind(408), 'transient');
  assert.equal(kind(502), 'transient');
  assert.equal(kind(400), 'fatal');
  const long = new Response(500, [], `a  b\n${'c'.repeat(300)}`, 'GET http://h/x');
  assert.match(long.statusError().message, /^GET http:\/\/h\/x: HTTP 500: a b c{196}…$/);
  assert.throws(() => new Response(200, [], '{').json(), isKind('invalid-response'));
  assert.throws(() => new Response(200, [], new Uint8Array([0xff])).text(), isKind('invalid-response'));
});

test('requests are sent through the transport, batches in order', () => {
  const served = serve((req) =>
    req.url.endsWith('/gone') ? { tag: 'timeout' } : new Response(201, [['x', '1']], `${req.method} ${req.url}`),
  );
  try {
    const answer = Request.post('http://h/a').json({ k: 1 }).header('x-a', 2).send();
    assert.equal(answer.text(), 'POST http://h/a');
    assert.equal(answer.header('X'), '1');
    const [sent] = served.requests;
    assert.deepEqual(sent.headers, [['content-type', 'application/json'], ['x-a', '2']]);
    assert.equal(new TextDecoder().decode(sent.body), '{"k":1}');
    const batch = sendBatch([Request.get('http://h/b'), Request.get('http://h/gone')]);
    assert.equal(batch[0].status, 201);
    assert.ok(isKind('transient')(batch[1]));
    assert.match(batch[1].message, /^GET http:\/\/h\/gone: timed out$/);
    assert.throws(() => Request.get('http://h/gone').send(), isKind('transient'));
    assert.throws(() => serve(() => undefined), /already installed/);
  } finally {
    served.close();
  }
  assert.throws(() => Request.get('http://h/').send(), /no test transport/);
});

test('URL helpers', () => {
  assert.equal(encode('a b/é~'), 'a%20b%2F%C3%A9~');
  assert.equal(url('http://h//', 'items', 'a/b'), 'http://h/items/a%2Fb');
  const r = Request.get('http://h/x?').query('a b', 1).queryOpt('c', undefined).queryOpt('d', 5n);
  assert.equal(r.url, 'http://h/x?a%20b=1&d=5');
});

test('settings', () => {
  const s = new Settings([
    ['a', '1'],
    ['blank', ' '],
    ['a', '2'],
    ['n', ' 25 '],
    ['base', 'https://x.io/v1/'],
  ]);
  assert.equal(s.get('a'), '2', 'the last wins');
  assert.equal(s.get('blank'), undefined);
  assert.throws(() => s.required('blank'), (e) => isKind('invalid-config')(e) && /`blank`/.test(e.message));
  assert.equal(s.getOr('missing', 'd'), 'd');
  assert.equal(s.integer('n', 7), 25);
  assert.equal(s.integer('missing', 7), 7);
  assert.throws(() => s.integer('a', 0, { max: 1 }), isKind('invalid-config'));
  assert.equal(s.url('base'), 'https://x.io/v1');
  for (const bad of ['ftp://x', 'x.io', 'http://', 'https:///p', 'http://a b', 'http://x?q=1']) {
    assert.throws(() => new Settings({ u: bad }).url('u'), (e) => /`u`/.test(e.message), bad);
  }
});

test('builders fill every field in the bindings shapes', () => {
  const r = record('a', 3, { title: 'T', text: 'héllo', metadata: { tags: ['x'] }, updatedAt: null });
  assert.deepEqual(r, {
    id: 'a',
    version: '3',
    updatedAt: undefined,
    parentId: undefined,
    title: 'T',
    path: undefined,
    contentType: 'text/plain; charset=utf-8',
    content: new TextEncoder().encode('héllo'),
    metadata: '{"tags":["x"]}',
    blobs: [],
  });
  assert.equal(record('b', '1').content, undefined, 'partial');
  assert.equal(record('b', '1').metadata, '{}');
  assert.equal(record('c', '1', { json: { k: 1 } }).contentType, 'application/json');
  assert.equal(blob('f', 'http://h/f', { version: '1', size: 3 }).size, 3n);
  const p = page([r], { nextCursor: null, totalHint: 9, watermark: '17' });
  assert.deepEqual([p.nextCursor, p.totalHint, p.watermark, p.deleted], [undefined, 9n, '17', []]);
  const m = manifest({
    name: 'n',
    version: '1.0.0',
    description: 'd',
    streams: [stream('s', 'd', { delta: true })],
    settings: [setting.optional('x', 'd', 5)],
    maxPageSize: 0,
  });
  assert.equal(m.maxPageSize, 1);
  assert.equal(m.maxPushBatch, 50);
  assert.deepEqual(m.streams[0], { name: 's', description: 'd', supportsDelta: true, supportsPush: false });
  assert.equal(m.settings[0].defaultValue, '5');
});

test('exportSource converts at the boundary', () => {
  const source = exportSource({
    describe: () => manifest({ name: 'x', version: '0.1.0', description: 'd' }),
    configure: (settings) => ({ n: settings.integer('n', 1) }),
    list: (config, name) => {
      if (name === 'bug') return undefined.x;
      return page([record(String(config.n), '1')]);
    },
    fetch: (config, name, ids) => ids.map((id) => (id === 'gone' ? SourceError.notFound(id) : record(id, '1'))),
  });
  assert.throws(() => source.list('s', undefined, undefined, 1, 'full'), (e) => e.tag === 'fatal' && /configure/.test(e.val));
  assert.throws(() => source.configure([['n', 'x']]), (e) => e.tag === 'invalid-config');
  source.configure([['n', '4']]);
  assert.equal(source.list('s', undefined, undefined, 1, 'full').records[0].id, '4');
  assert.deepEqual(source.fetch('s', ['a', 'gone']).map((r) => r.tag), ['ok', 'err']);
  assert.deepEqual(source.fetch('s', ['gone'])[0].val, { tag: 'not-found', val: 'gone' });
  // A bug is not an error of the contract: it propagates (a trap in the component).
  assert.throws(() => source.list('bug', undefined, undefined, 1, 'full'), TypeError);
  assert.deepEqual(source.streams(), []);
});

test('a cassette replays in recorded order and names what is wrong', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synchost-sdk-js-'));
  try {
    writeFileSync(
      join(dir, '0001.json'),
      JSON.stringify([
        { method: 'GET', url: 'http://h/a', status: 200, body: 'first' },
        { method: 'GET', url: 'http://h/b', status: 201, headers: { 'Content-Type': 'x' }, body: { b: [1] } },
        { method: 'get', url: 'http://h/a', status: 200, body_base64: 'c2Vjb25k' },
        { method: 'GET', url: 'http://h/c', error: 'too-large: 7' },
      ]),
    );
    const served = replay(dir);
    try {
      const b = Request.get('http://h/b').send();
      assert.deepEqual([b.status, b.text(), b.header('content-type')], [201, '{"b":[1]}', 'x']);
      assert.equal(Request.get('http://h/a').send().text(), 'first');
      assert.equal(Request.get('http://h/a').send().text(), 'second');
      assert.throws(() => Request.get('http://h/c').send(), (e) => isKind('invalid-response')(e) && / 7 bytes/.test(e.message));
      assert.throws(() => Request.get('http://h/a').send(), /unexpected request GET http:\/\/h\/a; unused exchanges: \[\]/);
    } finally {
      served.close();
    }
    writeFileSync(join(dir, '0002.json'), '{"method": "GET", "url": "http://h/", "status": "ok"}');
    assert.throws(() => replay(dir), /0002\.json: exchange 0: `status` must be an HTTP status code/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('push: change accessors and outcomes through exportSource', () => {
  const change = { key: 'k', op: 'update', id: 'a', baseVersion: undefined, content: new Uint8Array([0xff]), metadata: '[1]' };
  assert.equal(requireId(change), 'a');
  assert.throws(() => requireBase(change), (e) => isKind('unsupported')(e) && e.message === 'change `k` (update of `a`) has no base version');
  assert.throws(() => contentText(change), /not UTF-8 text/);
  assert.deepEqual(metadataOf(change), {});
  assert.deepEqual(metadataOf({ metadata: '{"t":1}' }), { t: 1 });
  const source = exportSource({
    describe: () => manifest({ name: 'x', version: '0.1.0', description: 'd' }),
    configure: () => ({}),
    list: () => page([]),
    push: (config, name, changes) => changes.map((c) => (c.id ? outcome.applied() : SourceError.conflict('no'))),
  });
  source.configure([]);
  assert.deepEqual(source.push('s', [{ id: 'a' }, {}]), [
    { tag: 'applied', val: undefined },
    { tag: 'failed', val: { tag: 'conflict', val: 'no' } },
  ]);
  assert.deepEqual(source.reconcile('s', [{}]), [
    { tag: 'failed', val: { tag: 'unsupported', val: 'stream `s` does not support push' } },
  ]);
  assert.deepEqual(
    source.fetch('s', ['a']).map((r) => r.val.val),
    ['stream `s` does not support fetch'],
  );
  // Holes in a batch are not sent and stay aligned.
  const served = serve(() => new Response(200, [], 'ok'));
  try {
    const answers = sendBatch([undefined, Request.get('http://h/x'), undefined]);
    assert.deepEqual(answers.map((a) => a?.status), [undefined, 200, undefined]);
    assert.deepEqual(served.sent(), ['GET http://h/x']);
  } finally {
    served.close();
  }
});
