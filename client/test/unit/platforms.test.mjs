// Both Mini Program shapes: `my.request` (Alipay) and `wx.request` (WeChat) stand-ins that send
// real HTTP to test/support/fake-api.mjs, auto-detection, default storage, emulated PATCH.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as esm from '../../dist/esm/index.js';
import * as min from '../../dist/miniapp-client.min.js';
import { FakeApi } from '../support/fake-api.mjs';
import { fakeMy, fakeWx } from '../support/platforms.mjs';

const MIN = 60 * 1000;

async function withGlobal(t, name, value) {
  globalThis[name] = value;
  t.after(() => {
    delete globalThis[name];
  });
  const api = await new FakeApi().start();
  t.after(() => api.stop());
  return api;
}

async function rejects(promise, code) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err && err.code === code, `expected ${code}, got ${err && err.code}: ${err && err.message}`);
  return err;
}

for (const [build, sdk] of Object.entries({ esm, min })) {
  describe(`Alipay my.request (${build} build)`, () => {
    test('detected by default: getAuthCode, my storage, text bodies, emulated PATCH', async (t) => {
      const my = fakeMy({ authCode: 'dev-alice' });
      const api = await withGlobal(t, 'my', my);
      const client = sdk.createClient({ baseUrl: api.url });
      const s = await client.login();
      assert.equal(s.userId, 'u-alice');
      assert.deepEqual(my.calls[0], { getAuthCode: 'auth_base' });
      assert.ok(my.store.has('miniapp:session'), 'the session is kept with my.setStorageSync');
      const todos = client.db.collection('todos');
      const a = await todos.add({ title: 'tea', n: 1 });
      const b = await todos.update(a.id, { n: 2, title: null });
      assert.deepEqual(b.data, { n: 2 });
      assert.equal(b.version, 2);
      assert.equal(api.count('PATCH'), 0, 'my.request cannot PATCH');
      const put = api.log.filter((l) => l.method === 'PUT').at(-1);
      assert.equal(put.headers['if-match'], '"1"');
      const requests = my.calls.filter((c) => c.url);
      for (const c of requests) assert.equal(c.dataType, 'text');
      assert.ok(requests.every((c) => c.headers && !c.header), 'Alipay takes `headers`');
      await rejects(todos.get('missing'), 'NotFound');
      assert.equal((await todos.list()).items.length, 1);
      await client.logout();
      assert.ok(!my.store.has('miniapp:session'));
    });

    test('4xx/5xx reported through fail (error 19) still map to API errors, and 503 is retried', async (t) => {
      const my = fakeMy({ failOnHttpError: true });
      const api = await withGlobal(t, 'my', my);
      const client = sdk.createClient({ baseUrl: api.url, retry: { baseDelayMs: 5 } });
      await client.login('dev-bob');
      const todos = client.db.collection('todos');
      const err = await rejects(todos.get('missing'), 'NotFound');
      assert.equal(err.status, 404);
      assert.match(err.requestId, /^req-/);
      await todos.set('x', { a: 1 });
      await rejects(todos.set('x', { a: 2 }, { ifMatch: 7 }), 'PreconditionFailed');
      api.failNext((r) => r.method === 'GET', { status: 503, code: 'StorageUnavailable' });
      assert.equal((await todos.get('x')).data.a, 1);
      api.failNext((r) => r.method === 'GET', 'reset', 3);
      const net = await rejects(todos.get('x'), 'NetworkError');
      assert.equal(net.status, 0);
    });

    test('data already parsed by the platform (dataType json) is accepted', async (t) => {
      const my = fakeMy();
      const request = my.request;
      my.request = (opts) => request({ ...opts, dataType: 'json' });
      const api = await withGlobal(t, 'my', my);
      const client = sdk.createClient({ baseUrl: api.url, transport: 'alipay' });
      await client.login('dev-alice');
      const item = await client.db.collection('c').set('one', { k: 'v' });
      assert.deepEqual(item.data, { k: 'v' });
      await rejects(client.db.collection('c').get('two'), 'NotFound');
    });
  });

  describe(`WeChat wx.request (${build} build)`, () => {
    test('detected by default: wx storage, Title-Case headers, clock skew, emulated PATCH', async (t) => {
      const wx = fakeWx();
      const api = await withGlobal(t, 'wx', wx);
      const client = sdk.createClient({ baseUrl: api.url, now: () => Date.now() - 10 * MIN });
      await client.login('dev-carol');
      assert.ok(Math.abs(client.clockOffset() - 10 * MIN) < 2000, 'Date read whatever its case');
      assert.ok(wx.store.has('miniapp:session'));
      const todos = client.db.collection('todos');
      const a = await todos.set('t1', { title: 'x', tags: { a: 1, b: 2 } });
      const b = await todos.update('t1', { tags: { b: null, c: 3 } }, { ifMatch: a });
      assert.deepEqual(b.data, { title: 'x', tags: { a: 1, c: 3 } });
      assert.equal(api.count('PATCH'), 0);
      const requests = wx.calls.filter((c) => c.url);
      assert.ok(requests.every((c) => c.header && !c.headers && c.dataType === 'text' && c.responseType === 'text'));
      const err = await rejects(todos.get('nope'), 'NotFound');
      assert.match(err.requestId, /^req-/, 'X-Request-Id read whatever its case');
    });

    test('login() without a code calls wx.login and sends {provider: "wechat", code}', async (t) => {
      const wx = fakeWx({ loginCode: 'dev-wx-dave' });
      const api = await withGlobal(t, 'wx', wx);
      const client = sdk.createClient({ baseUrl: api.url, timeoutMs: 4000 });
      assert.equal((await client.login()).userId, 'wechat:u-dave');
      assert.deepEqual(wx.calls[0], { login: 4000 });
      assert.deepEqual(api.logins, [{ provider: 'wechat', code: 'dev-wx-dave' }]);
      await client.login('dev-wx-erin');
      assert.deepEqual(api.logins[1], { provider: 'wechat', code: 'dev-wx-erin' });
      const custom = sdk.createClient({ baseUrl: api.url, getAuthCode: async () => 'dev-wx-fay' });
      assert.equal((await custom.login()).userId, 'wechat:u-fay');
      assert.equal(wx.calls.filter((c) => c.login).length, 1, 'getAuthCode wins over wx.login');
    });

    test('a failing wx.login rejects with Unsupported; provider alipay on WeChat sends {authCode}', async (t) => {
      const api = await withGlobal(t, 'wx', fakeWx({ loginFails: 'login:fail network' }));
      const failing = sdk.createClient({ baseUrl: api.url });
      const err = await rejects(failing.login(), 'Unsupported');
      assert.match(err.message, /login:fail network/);
      assert.equal(api.logins.length, 0);
      const alipay = sdk.createClient({ baseUrl: api.url, provider: 'alipay' });
      await rejects(alipay.login(), 'Unsupported');
      assert.equal((await alipay.login('dev-gus')).userId, 'u-gus');
      assert.deepEqual(api.logins, [{ authCode: 'dev-gus' }]);
    });

    test('emulated PATCH: concurrent updates both land; a stale ifMatch fails', async (t) => {
      const api = await withGlobal(t, 'wx', fakeWx());
      const client = sdk.createClient({ baseUrl: api.url, transport: 'wechat' });
      await client.login('dev-erin');
      const todos = client.db.collection('todos');
      const a = await todos.set('race', { n: 0 });
      await Promise.all([todos.update('race', { x: 1 }), todos.update('race', { y: 2 }), todos.update('race', { z: 3 })]);
      const final = await todos.get('race');
      assert.deepEqual(final.data, { n: 0, x: 1, y: 2, z: 3 });
      assert.equal(final.version, 4);
      await rejects(todos.update('race', { n: 1 }, { ifMatch: a }), 'PreconditionFailed');
      await rejects(todos.update('absent', { n: 1 }, { ifMatch: '*' }), 'PreconditionFailed');
      await rejects(todos.update('absent', { n: 1 }), 'NotFound');
      assert.equal((await todos.update('race', { n: 5 }, { ifMatch: '*' })).data.n, 5);
    });
  });
}

test('my is preferred over wx, wx over fetch', async (t) => {
  const my = fakeMy();
  const wx = fakeWx();
  const api = await withGlobal(t, 'my', my);
  globalThis.wx = wx;
  t.after(() => {
    delete globalThis.wx;
  });
  await esm.createClient({ baseUrl: api.url }).login('dev-alice');
  assert.equal(my.calls.length, 1);
  assert.equal(wx.calls.length, 0);
  delete globalThis.my;
  await esm.createClient({ baseUrl: api.url }).login('dev-alice');
  assert.equal(wx.calls.length, 1);
  await esm.createClient({ baseUrl: api.url, transport: 'fetch', patch: 'emulate', storage: esm.memoryStorage() }).login('dev-alice');
  assert.equal(api.count('POST', '/session'), 3);
});

test('provider: named in the options on any transport; anything else is InvalidArgument', async (t) => {
  const api = await new FakeApi().start();
  t.after(() => api.stop());
  const storage = esm.memoryStorage();
  const wechat = esm.createClient({ baseUrl: api.url, transport: 'fetch', storage, provider: 'wechat' });
  assert.equal((await wechat.login('dev-wx-hal')).userId, 'wechat:u-hal');
  const plain = esm.createClient({ baseUrl: api.url, transport: 'fetch', storage: esm.memoryStorage() });
  assert.equal((await plain.login('dev-hal')).userId, 'u-hal');
  assert.deepEqual(api.logins, [{ provider: 'wechat', code: 'dev-wx-hal' }, { authCode: 'dev-hal' }]);
  await rejects(wechat.login(), 'Unsupported');
  assert.throws(() => esm.createClient({ baseUrl: api.url, provider: 'douyin' }), (e) => e.code === 'InvalidArgument');
});

test('a custom transport function', async (t) => {
  const api = await new FakeApi().start();
  t.after(() => api.stop());
  const seen = [];
  const fetchIt = esm.fetchTransport();
  const client = esm.createClient({
    baseUrl: `${api.url}/`,
    storage: esm.memoryStorage(),
    transport: async (req) => {
      seen.push(req);
      const res = await fetchIt(req);
      return { status: res.status, headers: { 'X-REQUEST-ID': res.headers['x-request-id'], Date: res.headers.date }, body: res.body };
    },
  });
  await client.login('dev-alice');
  await client.db.collection('todos').add({ a: 1 });
  assert.equal(seen[1].url, `${api.url}/db/todos`);
  assert.equal(seen[1].body, '{"a":1}');
  assert.equal(seen[1].headers['content-type'], 'application/json');
  const err = await rejects(client.db.collection('todos').get('zz'), 'NotFound');
  assert.match(err.requestId, /^req-/);
});
