// The client against test/support/fake-api.mjs (a real HTTP server on loopback that verifies
// signatures with node:crypto): sessions, clock skew, refresh, retries, errors, data calls.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { LoggedOutError, MiniappError, NetworkError, createClient, memoryStorage } from '../../dist/esm/index.js';
import { FakeApi } from '../support/fake-api.mjs';

const MIN = 60 * 1000;
const FAST_RETRY = { baseDelayMs: 5, maxDelayMs: 20 };

async function setup(t, options = {}, apiOptions = {}) {
  const api = await new FakeApi(apiOptions).start();
  t.after(() => api.stop());
  const storage = memoryStorage();
  const loggedOut = [];
  const client = createClient({
    baseUrl: api.url,
    transport: 'fetch',
    storage,
    retry: FAST_RETRY,
    onLoggedOut: (err) => loggedOut.push(err),
    ...options,
  });
  return { api, client, storage, loggedOut };
}

const on = (method, path) => (r) => r.method === method && (path === undefined || r.path === path);
const credentialOf = (entry) => /Credential=([^,]+),/.exec(entry.headers.authorization)[1];

async function rejects(promise, check) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'expected a rejection');
  assert.ok(err instanceof MiniappError, `not a MiniappError: ${err}`);
  for (const [k, v] of Object.entries(check)) assert.equal(err[k], v, `${k} of ${err.code}: ${err.message}`);
  return err;
}

describe('sessions', () => {
  test('login keeps the session in storage; session() shows no secret', async (t) => {
    const { api, client, storage } = await setup(t);
    assert.equal(await client.session(), null);
    const s = await client.login('dev-alice');
    assert.equal(s.userId, 'u-alice');
    assert.deepEqual(Object.keys(s).sort(), ['credentialsExpireAt', 'expiresAt', 'sessionId', 'userId']);
    assert.deepEqual(await client.session(), s);
    const kept = JSON.parse(storage.get('miniapp:session'));
    assert.equal(kept.sessionId, s.sessionId);
    assert.match(kept.credentials.accessKeyId, /^STS\./);
    const login = api.log[0];
    assert.equal(login.body, '{"authCode":"dev-alice"}');
    assert.equal(login.headers['content-type'], 'application/json');
    const info = await client.fetchSession();
    assert.equal(info.sessionId, s.sessionId);
  });

  test('a second client on the same storage is already signed in', async (t) => {
    const { api, client, storage } = await setup(t);
    await client.login('dev-alice');
    const again = createClient({ baseUrl: api.url, transport: 'fetch', storage });
    assert.equal((await again.session()).userId, 'u-alice');
    assert.equal((await again.fetchSession()).userId, 'u-alice');
  });

  test('a refused auth code is a plain MiniappError', async (t) => {
    const { client } = await setup(t);
    const err = await rejects(client.login('dev-invalid'), { code: 'AuthCodeInvalid', status: 401 });
    assert.ok(!(err instanceof LoggedOutError));
    assert.match(err.requestId, /^req-\d+$/);
    await rejects(client.login(''), { code: 'InvalidArgument' });
  });

  test('calls without a session reject NotLoggedIn', async (t) => {
    const { api, client, loggedOut } = await setup(t);
    const err = await rejects(client.db.collection('todos').list(), { code: 'NotLoggedIn', status: 0 });
    assert.ok(err instanceof LoggedOutError);
    assert.equal(api.log.length, 0);
    assert.equal(loggedOut.length, 0);
    await rejects(client.refresh(), { code: 'NotLoggedIn' });
    await client.logout(); // nothing to do
  });

  test('logout sends a signed DELETE /session and forgets the session', async (t) => {
    const { api, client, storage, loggedOut } = await setup(t);
    await client.login('dev-alice');
    await client.logout();
    const del = api.log.find(on('DELETE', '/session'));
    assert.match(del.headers.authorization, /^MINIAPP-HMAC-SHA256 Credential=STS\./);
    assert.equal(storage.get('miniapp:session'), null);
    assert.equal(await client.session(), null);
    await rejects(client.fetchSession(), { code: 'NotLoggedIn' });
    assert.equal(loggedOut.length, 0);
  });

  test('logout forgets the session even when the server answers 401', async (t) => {
    const { api, client, storage, loggedOut } = await setup(t);
    await client.login('dev-alice');
    api.failNext(on('DELETE', '/session'), { status: 401, code: 'SessionRevoked' });
    await client.logout();
    assert.equal(storage.get('miniapp:session'), null);
    assert.equal(loggedOut.length, 0, 'a logout is not reported as a lost session');
  });

  test('logout without an answer forgets the session and reports the network error', async (t) => {
    const { api, client, storage } = await setup(t, { retry: false });
    await client.login('dev-alice');
    api.failNext(on('DELETE', '/session'), 'reset');
    await rejects(client.logout(), { code: 'NetworkError' });
    assert.equal(storage.get('miniapp:session'), null);
  });

  test('a revoked session: LoggedOutError, onLoggedOut once, storage cleared', async (t) => {
    const { api, client, storage, loggedOut } = await setup(t);
    const s = await client.login('dev-alice');
    api.sessions.get(s.sessionId).revoked = true;
    const todos = client.db.collection('todos');
    const results = await Promise.allSettled([todos.list(), todos.list(), todos.get('x')]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.ok(r.reason instanceof LoggedOutError);
      assert.equal(r.reason.code, 'SessionRevoked');
      assert.equal(r.reason.status, 401);
    }
    assert.equal(loggedOut.length, 1);
    assert.equal(loggedOut[0].code, 'SessionRevoked');
    assert.equal(storage.get('miniapp:session'), null);
    await rejects(todos.list(), { code: 'NotLoggedIn' });
    // Signing in again works, and a later loss is reported again.
    const s2 = await client.login('dev-alice');
    api.sessions.get(s2.sessionId).revoked = true;
    await rejects(todos.list(), { code: 'SessionRevoked' });
    assert.equal(loggedOut.length, 2);
  });
});

describe('clock skew', () => {
  test('a device clock 10 minutes behind: the offset from login fixes every request', async (t) => {
    const { api, client, storage } = await setup(t, { now: () => Date.now() - 10 * MIN });
    await client.login('dev-alice');
    const offset = client.clockOffset();
    assert.ok(Math.abs(offset - 10 * MIN) < 2000, `offset ${offset}`);
    assert.equal(Number(storage.get('miniapp:clock')), offset);
    const item = await client.db.collection('todos').add({ title: 'a' });
    assert.equal((await client.db.collection('todos').get(item.id)).data.title, 'a');
    assert.equal(api.log.filter((l) => l.path.startsWith('/db')).length, 2, 'no request was refused');
  });

  test('a device clock 10 minutes ahead, offset unknown: RequestExpired, learn, retry once', async (t) => {
    const { api, client } = await setup(t, { now: () => Date.now() + 10 * MIN });
    await client.login('dev-alice');
    await client.setClockOffset(0); // as if the clock jumped after login
    const page = await client.db.collection('todos').list();
    assert.deepEqual(page, { items: [], nextCursor: null });
    assert.equal(api.count('GET', '/db/todos'), 2);
    assert.ok(Math.abs(client.clockOffset() + 10 * MIN) < 2000);
    // POST is corrected too: a clock error is not a retry of the write.
    await client.setClockOffset(0);
    await client.db.collection('todos').add({ n: 1 });
    assert.equal(api.count('POST', '/db/todos'), 2);
    assert.equal(api.items.size, 1);
  });

  test('without a readable Date header the RequestExpired message gives the server time', async (t) => {
    const { api, client } = await setup(t, { now: () => Date.now() - 10 * MIN }, { sendDate: false });
    await client.login('dev-alice');
    assert.equal(client.clockOffset(), 0, 'nothing to learn from at login');
    await client.db.collection('todos').list();
    assert.equal(api.count('GET', '/db/todos'), 2);
    assert.ok(Math.abs(client.clockOffset() - 10 * MIN) < 2000);
  });

  test('the offset is kept in storage for the next start', async (t) => {
    const { api, client, storage } = await setup(t, { now: () => Date.now() - 10 * MIN });
    await client.login('dev-alice');
    const next = createClient({ baseUrl: api.url, transport: 'fetch', storage, now: () => Date.now() - 10 * MIN });
    await next.db.collection('todos').list();
    assert.equal(api.count('GET', '/db/todos'), 1);
    assert.equal(next.clockOffset(), client.clockOffset());
  });
});

describe('credential refresh', () => {
  test('less than 60 s left: ten parallel calls share one refresh', async (t) => {
    let api;
    const ctx = await setup(t, { now: () => api.now() });
    api = ctx.api;
    const { client } = ctx;
    const first = await client.login('dev-alice');
    const firstKey = JSON.parse(ctx.storage.get('miniapp:session')).credentials.accessKeyId;
    api.clock.offset += 3600 * 1000 - 30 * 1000; // 30 s of validity left
    const todos = client.db.collection('todos');
    const pages = await Promise.all(Array.from({ length: 10 }, () => todos.list()));
    assert.equal(pages.length, 10);
    assert.equal(api.refreshes, 1);
    const now = await client.session();
    assert.notEqual(now.credentialsExpireAt, first.credentialsExpireAt);
    const lists = api.log.filter(on('GET', '/db/todos'));
    assert.equal(lists.length, 10, 'no call was refused');
    const renewed = JSON.parse(ctx.storage.get('miniapp:session')).credentials.accessKeyId;
    for (const l of lists) assert.equal(credentialOf(l), renewed);
    assert.equal(credentialOf(api.log.find(on('POST', '/session/refresh'))), firstKey, 'refresh signed with the old credentials');
  });

  test('401 CredentialsExpired: one refresh for ten parallel calls, each retried once', async (t) => {
    let api;
    let lag = 0;
    const ctx = await setup(t, { now: () => api.now() - lag, refreshMarginMs: 0 });
    api = ctx.api;
    const { client } = ctx;
    await client.login('dev-alice');
    api.clock.offset += 3650 * 1000; // expired 50 s ago on the server ...
    lag = 100 * 1000; // ... while the device, 100 s slow, thinks 50 s remain
    const todos = client.db.collection('todos');
    const pages = await Promise.all(Array.from({ length: 10 }, () => todos.list()));
    assert.equal(pages.length, 10);
    assert.equal(api.refreshes, 1);
    assert.equal(api.count('GET', '/db/todos'), 20);
  });

  test('refresh() on demand keeps the session, changes the credentials', async (t) => {
    const { api, client } = await setup(t);
    const a = await client.login('dev-alice');
    const b = await client.refresh();
    assert.equal(b.sessionId, a.sessionId);
    assert.equal(api.refreshes, 1);
    const [c, d] = await Promise.all([client.refresh(), client.refresh()]);
    assert.deepEqual(c, d);
    assert.equal(api.refreshes, 2);
  });

  test('a refresh answering SessionExpired logs out every waiting call, onLoggedOut once', async (t) => {
    let api;
    const ctx = await setup(t, { now: () => api.now() }, { sessionTtlSecs: 100 });
    api = ctx.api;
    const { client, storage, loggedOut } = ctx;
    await client.login('dev-alice');
    api.clock.offset += 200 * 1000;
    const todos = client.db.collection('todos');
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => todos.list()));
    assert.equal(api.refreshes, 0, 'the server refused the refresh');
    assert.equal(api.count('POST', '/session/refresh'), 1);
    for (const r of results) {
      assert.ok(r.reason instanceof LoggedOutError, String(r.reason));
      assert.equal(r.reason.code, 'SessionExpired');
    }
    assert.equal(loggedOut.length, 1);
    assert.equal(storage.get('miniapp:session'), null);
  });

  test('short-lived credentials refresh at half their lifetime, not on every call', async (t) => {
    let api;
    const ctx = await setup(t, { now: () => api.now() }, { credentialTtlSecs: 20 });
    api = ctx.api;
    const { client } = ctx;
    await client.login('dev-alice');
    const todos = client.db.collection('todos');
    await todos.list();
    await todos.list();
    assert.equal(api.refreshes, 0);
    api.clock.offset += 11 * 1000;
    await todos.list();
    assert.equal(api.refreshes, 1);
  });
});

describe('retries', () => {
  test('GET: 503 with Retry-After: 1 is waited for and retried', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    api.failNext(on('GET', '/db/todos'), { status: 503, code: 'StorageUnavailable', headers: { 'retry-after': '1' } });
    const started = Date.now();
    await client.db.collection('todos').list();
    assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
    assert.equal(api.count('GET', '/db/todos'), 2);
  });

  test('GET: a dropped connection is retried', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    api.failNext(on('GET', '/db/todos'), 'reset');
    await client.db.collection('todos').list();
    assert.equal(api.count('GET', '/db/todos'), 2);
  });

  test('PUT: 504 twice, then success on the third attempt', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    api.failNext(on('PUT'), { status: 504, code: 'UpstreamTimeout' }, 2);
    const item = await client.db.collection('todos').set('one', { a: 1 });
    assert.equal(item.version, 1);
    assert.equal(api.count('PUT'), 3);
  });

  test('attempts run out: the last error, with its Retry-After', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    api.failNext(on('DELETE'), { status: 503, code: 'StorageUnavailable', headers: { 'retry-after': '0' } }, 3);
    await rejects(client.db.collection('todos').remove('x'), { code: 'StorageUnavailable', status: 503, retryAfter: 0 });
    assert.equal(api.count('DELETE'), 3);
  });

  test('POST is never retried', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    api.failNext(on('POST', '/db/todos'), { status: 503, code: 'StorageUnavailable', headers: { 'retry-after': '1' } });
    await rejects(client.db.collection('todos').add({ a: 1 }), { code: 'StorageUnavailable', status: 503, retryAfter: 1 });
    api.failNext(on('POST', '/db/todos'), 'reset');
    await rejects(client.db.collection('todos').add({ a: 1 }), { code: 'NetworkError', status: 0 });
    assert.equal(api.count('POST', '/db/todos'), 2);
    assert.equal(api.items.size, 0);
  });

  test('PATCH is retried only with If-Match', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    const todos = client.db.collection('todos');
    const item = await todos.set('p', { a: 1 });
    api.failNext(on('PATCH'), { status: 503, code: 'StorageUnavailable' });
    await rejects(todos.update('p', { b: 2 }), { code: 'StorageUnavailable' });
    assert.equal(api.count('PATCH'), 1);
    api.failNext(on('PATCH'), { status: 503, code: 'StorageUnavailable' });
    const updated = await todos.update('p', { b: 2 }, { ifMatch: item });
    assert.deepEqual(updated.data, { a: 1, b: 2 });
    assert.equal(api.count('PATCH'), 3);
    assert.equal(api.log.filter(on('PATCH')).at(-1).headers['if-match'], '"1"');
  });

  test('a Retry-After beyond maxRetryAfterMs is not waited for', async (t) => {
    const { api, client } = await setup(t, { retry: { ...FAST_RETRY, maxRetryAfterMs: 500 } });
    await client.login('dev-alice');
    api.failNext(on('GET'), { status: 429, code: 'TooManyRequests', headers: { 'retry-after': '30' } });
    await rejects(client.db.collection('todos').list(), { code: 'TooManyRequests', status: 429, retryAfter: 30 });
    assert.equal(api.count('GET'), 1);
  });

  test('retry: false sends once', async (t) => {
    const { api, client } = await setup(t, { retry: false });
    await client.login('dev-alice');
    api.failNext(on('GET'), { status: 503, code: 'StorageUnavailable' });
    await rejects(client.db.collection('todos').list(), { code: 'StorageUnavailable' });
    assert.equal(api.count('GET'), 1);
  });
});

describe('errors', () => {
  test('an API error keeps code, status, message and the x-request-id', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    const err = await rejects(client.db.collection('todos').get('nope'), { code: 'NotFound', status: 404 });
    assert.equal(err.requestId, `req-${api.seq}`);
    assert.equal(err.message, 'NotFound');
    assert.equal(err.name, 'MiniappError');
    assert.ok(err instanceof Error);
  });

  test('a non-JSON error page is InvalidResponse with its status', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    api.failNext(on('GET'), { status: 502, raw: '<html>Bad Gateway</html>' });
    await rejects(client.db.collection('todos').list(), { code: 'InvalidResponse', status: 502 });
  });

  test('a non-JSON 200 is InvalidResponse', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    api.failNext(on('GET'), { status: 200, raw: 'hello' });
    await rejects(client.db.collection('todos').list(), { code: 'InvalidResponse', status: 200 });
  });

  test('nobody listening: NetworkError, status 0', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    await api.stop();
    const err = await rejects(client.db.collection('todos').list(), { code: 'NetworkError', status: 0 });
    assert.ok(err instanceof NetworkError);
    api.start = () => undefined;
    api.stop = async () => undefined;
  });

  test('no answer within timeoutMs: Timeout', async (t) => {
    const { api, client } = await setup(t, { timeoutMs: 200, retry: false });
    await client.login('dev-alice');
    api.failNext(on('GET'), 'hang');
    const err = await rejects(client.db.collection('todos').list(), { code: 'Timeout', status: 0 });
    assert.ok(err instanceof NetworkError);
  });

  test('names the API would refuse are refused before sending', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    assert.throws(() => client.db.collection('a/b'), (e) => e.code === 'InvalidArgument');
    assert.throws(() => client.db.collection(''), (e) => e.code === 'InvalidArgument');
    const todos = client.db.collection('todos');
    for (const id of ['..', '.', 'a/b', 'x'.repeat(129), 'é']) {
      await rejects(todos.get(id), { code: 'InvalidArgument' });
    }
    await rejects(todos.add([1, 2]), { code: 'InvalidArgument' });
    await rejects(todos.set('ok', { a: 1 }, { ifMatch: 'x' }), { code: 'InvalidArgument' });
    assert.equal(api.log.filter((l) => l.path.startsWith('/db')).length, 0);
  });

  test('a failing storage is a StorageError', async (t) => {
    const full = {
      get: () => null,
      set: () => {
        throw new Error('quota exceeded');
      },
      remove: () => undefined,
    };
    const { client } = await setup(t, { storage: full });
    await rejects(client.login('dev-alice'), { code: 'StorageError', status: 0 });
  });

  test('an async storage works', async (t) => {
    const map = new Map();
    const storage = {
      get: async (k) => map.get(k),
      set: async (k, v) => void map.set(k, v),
      remove: async (k) => void map.delete(k),
    };
    const { api, client } = await setup(t, { storage });
    await client.login('dev-alice');
    const again = createClient({ baseUrl: api.url, transport: 'fetch', storage });
    assert.equal((await again.fetchSession()).userId, 'u-alice');
  });

  test('createClient checks baseUrl and transport', () => {
    assert.throws(() => createClient({ baseUrl: 'ftp://x' }), (e) => e.code === 'InvalidArgument');
    assert.throws(() => createClient({ baseUrl: 'http://x', transport: 'carrier-pigeon' }), (e) => e.code === 'InvalidArgument');
  });
});

describe('data', () => {
  test('add, get, set with conditions, update, remove', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    const todos = client.db.collection('todos');
    const a = await todos.add({ title: 'Buy milk', done: false });
    assert.equal(a.version, 1);
    assert.deepEqual(await todos.get(a.id), a);
    await rejects(todos.set(a.id, { x: 1 }, { ifNoneMatch: '*' }), { code: 'PreconditionFailed', status: 412 });
    const b = await todos.set(a.id, { title: 'Buy oat milk', done: false }, { ifMatch: a });
    assert.equal(b.version, 2);
    await rejects(todos.set(a.id, { x: 1 }, { ifMatch: 1 }), { code: 'PreconditionFailed' });
    const c = await todos.update(a.id, { done: true, title: null }, { ifMatch: 2 });
    assert.deepEqual(c.data, { done: true });
    await rejects(todos.remove(a.id, { ifMatch: b }), { code: 'PreconditionFailed' });
    await todos.remove(a.id, { ifMatch: '*' });
    await rejects(todos.get(a.id), { code: 'NotFound' });
    assert.equal(api.log.filter(on('PUT')).at(0).headers['if-none-match'], '*');
  });

  test('list and every way of iterating over all pages', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    const notes = client.db.collection('notes');
    for (let i = 0; i < 45; i++) await notes.set(`n${String(i).padStart(3, '0')}`, { i });
    await notes.set('other', { i: -1 });
    const first = await notes.list({ prefix: 'n', limit: 10 });
    assert.equal(first.items.length, 10);
    assert.ok(first.nextCursor);
    const q = new URLSearchParams(api.log.at(-1).query);
    assert.deepEqual(Object.fromEntries(q), { limit: '10', prefix: 'n' });

    const seen = [];
    for await (const item of notes.all({ prefix: 'n', limit: 10 })) seen.push(item.data.i);
    assert.deepEqual(seen, Array.from({ length: 45 }, (_, i) => i));

    const desc = await notes.all({ prefix: 'n', order: 'desc', limit: 7 }).toArray();
    assert.deepEqual(desc.map((x) => x.data.i), Array.from({ length: 45 }, (_, i) => 44 - i));

    let n = 0;
    await notes.all({ limit: 100 }).forEach(() => {
      n++;
    });
    assert.equal(n, 46);

    let count = 0;
    for await (const item of notes) {
      assert.ok(item.id);
      if (++count === 3) break;
    }
    assert.equal(count, 3);

    const it = notes.all({ prefix: 'n', limit: 20 });
    const [x, y] = await Promise.all([it.next(), it.next()]);
    assert.deepEqual([x.value.data.i, y.value.data.i], [0, 1]);
    assert.deepEqual(await it.return(), { done: true, value: undefined });
    assert.equal((await it.next()).done, true);
  });

  test('where: terms chained with AND, sent as one signed where parameter', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    const todos = client.db.collection('todos');
    for (let i = 0; i < 6; i++) await todos.set(`t${i}`, { done: i % 2 === 0, owner: { name: i < 3 ? 'ann' : 'bob' } });
    const page = await todos.where('done', '==', false).list({ limit: 10 });
    assert.deepEqual(page.items.map((x) => x.id), ['t1', 't3', 't5']);
    const q = new URLSearchParams(api.log.at(-1).query);
    assert.equal(q.get('where'), 'done == false');
    assert.match(api.log.at(-1).query, /where=done%20%3D%3D%20false/);
    const both = todos.where('done', '==', true).where('owner.name', '==', 'bob');
    assert.deepEqual((await both.all({ limit: 1 }).toArray()).map((x) => x.id), ['t4']);
    assert.equal(new URLSearchParams(api.log.at(-1).query).get('where'), 'done == true AND owner.name == "bob"');
    const seen = [];
    for await (const item of todos.where('owner.name', '==', 'ann')) seen.push(item.id);
    assert.deepEqual(seen, ['t0', 't1', 't2']);
    // The unfiltered collection is unchanged by where().
    assert.equal((await todos.list()).items.length, 6);
    // A field that would change the expression is refused before sending.
    for (const bad of ['a b', 'done == true AND x', '', 'a..b', '$.a', 'a[0]']) {
      assert.throws(() => todos.where(bad, '==', 1), (e) => e.code === 'InvalidArgument', bad);
    }
  });

  test('batch: typed operations, versions as entity tags, the failing index', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    const todos = client.db.collection('todos');
    const a = await todos.set('a', { done: true });
    await todos.set('b', { done: false });
    const results = await client.db.batch([
      { op: 'create', collection: 'notes', data: { t: 'x' } },
      { op: 'patch', collection: 'todos', id: 'b', patch: { done: true }, ifMatch: 1 },
      { op: 'delete', collection: 'todos', id: 'a', ifMatch: a },
      { op: 'put', collection: 'todos', id: 'c', data: {}, ifNoneMatch: '*' },
    ]);
    assert.deepEqual(results.map((r) => r.op), ['create', 'patch', 'delete', 'put']);
    assert.equal(results[0].item.data.t, 'x');
    assert.equal(results[1].item.version, 2);
    assert.equal(results[2].deleted, true);
    const sent = JSON.parse(api.log.filter(on('POST', '/db')).at(-1).body);
    assert.deepEqual(sent.operations[1], { op: 'patch', collection: 'todos', id: 'b', patch: { done: true }, ifMatch: '"1"' });
    assert.equal(sent.operations[2].ifMatch, '"1"');
    assert.equal(sent.operations[3].ifNoneMatch, '*');
    assert.equal(sent.operations[0].ifMatch, undefined);
    const err = await rejects(
      client.db.batch([
        { op: 'put', collection: 'todos', id: 'd', data: {} },
        { op: 'delete', collection: 'todos', id: 'b', ifMatch: 1 },
      ]),
      { code: 'PreconditionFailed', status: 412, index: 1 },
    );
    assert.ok(err instanceof MiniappError);
    await rejects(todos.get('d'), { code: 'NotFound' });
    // Not retried: a batch is a POST.
    api.failNext(on('POST', '/db'), { status: 503, code: 'StorageUnavailable' });
    await rejects(client.db.batch([{ op: 'delete', collection: 'todos', id: 'c' }]), { code: 'StorageUnavailable' });
    assert.equal(api.count('POST', '/db'), 3);
  });

  test('request(): any signed call, query signed as sent', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    const res = await client.request('GET', '/db/todos?limit=5', { query: { prefix: 'a b+ü', cursor: undefined } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.data, { items: [], nextCursor: null });
    assert.match(res.requestId, /^req-/);
    assert.equal(api.log.at(-1).query, 'limit=5&prefix=a%20b%2B%C3%BC');
  });
});

describe('collections and account deletion', () => {
  test('db.collections() follows the cursors and lists only the caller', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    for (const [name, n] of [['b', 2], ['a', 1], ['c', 1]]) {
      for (let i = 0; i < n; i++) await client.db.collection(name).add({ i });
    }
    const bob = createClient({ baseUrl: api.url, transport: 'fetch', storage: memoryStorage() });
    await bob.login('dev-bob');
    await bob.db.collection('z').add({});
    assert.deepEqual(await client.db.collections(), [
      { name: 'a', count: 1 },
      { name: 'b', count: 2 },
      { name: 'c', count: 1 },
    ]);
    // Two pages (two per page): the second asked for with the first's cursor, signed.
    const gets = api.log.filter(on('GET', '/db'));
    assert.deepEqual(gets.map((g) => g.query), ['', 'cursor=b']);
    assert.deepEqual(await bob.db.collections(), [{ name: 'z', count: 1 }]);
  });

  test('account.delete() calls until done, reports progress, and forgets the session', async (t) => {
    const { api, client, loggedOut } = await setup(t);
    await client.login('dev-alice');
    const other = createClient({ baseUrl: api.url, transport: 'fetch', storage: memoryStorage(), retry: FAST_RETRY });
    await other.login('dev-alice');
    for (let i = 0; i < 5; i++) await client.db.collection('todos').add({ i });
    const progress = [];
    const done = await client.account.delete({ onProgress: (p) => progress.push({ ...p }) });
    assert.deepEqual(done, { status: 'deleted', itemsDeleted: 5 });
    assert.deepEqual(progress, [
      { status: 'deleting', step: 'items', itemsDeleted: 2 },
      { status: 'deleting', step: 'items', itemsDeleted: 4 },
    ]);
    assert.equal(api.count('DELETE', '/account'), 3);
    assert.equal(await client.session(), null);
    assert.deepEqual(loggedOut, [], 'an asked-for deletion is not an unexpected log-out');
    // The other device is logged out too.
    await rejects(other.db.collections(), { code: 'SessionRevoked', status: 401 });
    await rejects(client.account.delete(), { code: 'NotLoggedIn' });
  });

  test('account.delete() stops after maxCalls with status deleting; calling again resumes', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    for (let i = 0; i < 5; i++) await client.db.collection('todos').add({ i });
    const first = await client.account.delete({ maxCalls: 1 });
    assert.deepEqual(first, { status: 'deleting', step: 'items', itemsDeleted: 2 });
    assert.notEqual(await client.session(), null);
    const rest = await client.account.delete();
    assert.deepEqual(rest, { status: 'deleted', itemsDeleted: 3 });
    assert.equal(api.count('DELETE', '/account'), 3);
  });

  test('account.delete() retries a 503 and stops on other errors', async (t) => {
    const { api, client } = await setup(t);
    await client.login('dev-alice');
    api.failNext(on('DELETE', '/account'), { status: 503, code: 'StorageUnavailable' });
    assert.equal((await client.account.delete()).status, 'deleted');
    await client.login('dev-alice');
    api.failNext(on('DELETE', '/account'), { status: 409, code: 'AccountDeleting' }, 3);
    await rejects(client.account.delete(), { code: 'AccountDeleting', status: 409 });
  });
});
