// End to end: the SDK in Node against a real `miniapp dev` (template.yaml, the session and db
// binaries behind the emulator, the Alipay stand-in), on the embedded store and on DynamoDB
// (moto). Built binaries are expected in $CARGO_TARGET_DIR/debug (scripts/test-client.sh).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { LoggedOutError, MiniappError, createClient, fetchTransport, memoryStorage } from '../../dist/esm/index.js';
import { fakeMy, fakeWx } from '../support/platforms.mjs';
import { startDev, startMoto } from '../support/processes.mjs';

const MIN = 60 * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A client whose requests are logged: [{method, path, status}]. */
function loggedClient(url, options = {}) {
  const log = [];
  const send = fetchTransport();
  const loggedOut = [];
  const client = createClient({
    baseUrl: url,
    storage: memoryStorage(),
    onLoggedOut: (e) => loggedOut.push(e),
    transport: async (req) => {
      const res = await send(req);
      log.push({ method: req.method, path: new URL(req.url).pathname, status: res.status });
      return res;
    },
    ...options,
  });
  return { client, log, loggedOut };
}

async function rejects(promise, code) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof MiniappError, `expected MiniappError ${code}, got ${err}`);
  assert.equal(err.code, code, err.message);
  return err;
}

const backends = [
  { name: 'embedded store', moto: false },
  { name: 'DynamoDB (moto)', moto: true },
];

for (const backend of backends) {
  describe(`miniapp dev, ${backend.name}`, () => {
    let moto;
    let dev;
    let short;
    let expiring;
    let expiringSince;

    before(async () => {
      const env = {};
      if (backend.moto) {
        moto = await startMoto();
        env.AWS_ENDPOINT_URL_DYNAMODB = moto.url;
      }
      dev = await startDev(env);
      // Short lifetimes for the refresh and expiry cases; own tables, so that both instances
      // can share one moto without sharing sessions.
      const shortEnv = { ...env, MINIAPP_CREDENTIAL_TTL_SECS: '2', MINIAPP_SESSION_TTL_SECS: '7' };
      if (backend.moto) Object.assign(shortEnv, { SESSIONS_TABLE: 'client-e2e-sessions', DATA_TABLE: 'client-e2e-data' });
      short = await startDev(shortEnv);
      // Started now, checked last: its session ends after 7 s.
      expiring = loggedClient(short.url);
      await expiring.client.login('dev-user-expiring');
      expiringSince = Date.now();
    });

    after(async () => {
      const codes = [];
      if (dev) codes.push(await dev.stop());
      if (short) codes.push(await short.stop());
      if (moto) await moto.stop();
      assert.deepEqual(codes, codes.map(() => 0), 'miniapp dev exits 0 on Ctrl-C');
    });

    test('log in with dev-alice; CRUD with conditions', async () => {
      const { client } = loggedClient(dev.url);
      const s = await client.login('dev-alice');
      assert.equal(s.userId, 'dev-openid-alice');
      assert.equal((await client.fetchSession()).sessionId, s.sessionId);
      const todos = client.db.collection('todos');
      const a = await todos.add({ title: 'Buy milk', done: false, note: 'ünïcødé 你好' });
      assert.match(a.id, /^[0-9a-f-]{36}$/);
      assert.equal(a.version, 1);
      assert.deepEqual(await todos.get(a.id), a);
      const b = await todos.update(a.id, { done: true, note: null }, { ifMatch: a });
      assert.deepEqual(b.data, { title: 'Buy milk', done: true });
      assert.equal(b.version, 2);
      await rejects(todos.update(a.id, { done: false }, { ifMatch: a }), 'PreconditionFailed');
      const c = await todos.set(a.id, { title: 'Buy oat milk' }, { ifMatch: 2 });
      assert.equal(c.version, 3);
      await rejects(todos.set(a.id, { x: 1 }, { ifNoneMatch: '*' }), 'PreconditionFailed');
      const made = await todos.set('fixed-id', { x: 1 }, { ifNoneMatch: '*' });
      assert.equal(made.version, 1);
      await rejects(todos.remove(a.id, { ifMatch: 1 }), 'PreconditionFailed');
      await todos.remove(a.id, { ifMatch: c });
      const gone = await rejects(todos.get(a.id), 'NotFound');
      assert.equal(gone.status, 404);
      assert.ok(gone.requestId, 'the server request id');
      await todos.remove('fixed-id');
      assert.deepEqual(await todos.list(), { items: [], nextCursor: null });
    });

    test('db.collections() and account.delete(): two users, two devices, a fresh account after', async () => {
      const one = loggedClient(dev.url);
      const two = loggedClient(dev.url);
      const dave = loggedClient(dev.url).client;
      await one.client.login('dev-user-carol');
      await two.client.login('dev-user-carol');
      await dave.login('dev-user-dave');
      await one.client.db.collection('todos').add({ n: 1 });
      await one.client.db.collection('todos').add({ n: 2 });
      await two.client.db.collection('notes').set('n1', {});
      await dave.db.collection('todos').add({});
      assert.deepEqual(await two.client.db.collections(), [
        { name: 'notes', count: 1 },
        { name: 'todos', count: 2 },
      ]);
      const progress = [];
      const done = await one.client.account.delete({ onProgress: (p) => progress.push(p.step) });
      assert.deepEqual(done, { status: 'deleted', itemsDeleted: 3 });
      // DynamoDB settles for 15 s first (docs/api.md §4.8), 5 s per call.
      if (backend.moto) assert.ok(progress.length >= 2 && progress[0] === 'settling', progress.join());
      assert.equal(await one.client.session(), null);
      assert.deepEqual(one.loggedOut, []);
      // The other device is logged out.
      await rejects(two.client.db.collections(), 'SessionRevoked');
      assert.equal(two.loggedOut.length, 1);
      assert.deepEqual(await dave.db.collections(), [{ name: 'todos', count: 1 }]);
      const again = loggedClient(dev.url).client;
      await again.login('dev-user-carol');
      assert.deepEqual(await again.db.collections(), []);
      await rejects(again.db.collection('notes').get('n1'), 'NotFound');
    });

    test('page through 250 items with the iterator', async () => {
      const { client } = loggedClient(dev.url);
      await client.login('dev-alice');
      const bulk = client.db.collection('bulk');
      const ids = Array.from({ length: 250 }, (_, i) => `item-${String(i).padStart(3, '0')}`);
      for (let i = 0; i < ids.length; i += 10) {
        await Promise.all(ids.slice(i, i + 10).map((id, k) => bulk.set(id, { n: i + k })));
      }
      const seen = [];
      for await (const item of bulk.all({ limit: 40 })) seen.push(item.id);
      assert.deepEqual(seen, ids);
      const desc = await bulk.all({ order: 'desc', prefix: 'item-1' }).toArray();
      assert.deepEqual(desc.map((x) => x.id), ids.filter((id) => id.startsWith('item-1')).reverse());
      let count = 0;
      for await (const item of bulk) {
        assert.equal(typeof item.data.n, 'number');
        count++;
      }
      assert.equal(count, 250);
    });

    test('where: a filter over 250 items, short pages followed to the end', async () => {
      const { client, log } = loggedClient(dev.url);
      await client.login('dev-alice');
      const bulk = client.db.collection('bulk');
      const before = log.length;
      const high = await bulk.where('n', '>=', 245).all({ limit: 10 }).toArray();
      assert.deepEqual(high.map((x) => x.data.n), [245, 246, 247, 248, 249]);
      // 250 items read 200 at a time: the first page is empty and still has a cursor.
      assert.equal(log.length - before, 2);
      const page = await bulk.where('n', '>=', 245).list({ limit: 10 });
      assert.deepEqual(page.items, []);
      assert.ok(page.nextCursor);
      const some = await bulk.where('n', 'in', [3, 4, 300]).where('n', '!=', 4).list();
      assert.deepEqual(some.items.map((x) => x.id), ['item-003']);
      await rejects(bulk.where('n', '=', 1).list(), 'InvalidQuery');
      await rejects(bulk.where('n', '==', 1e21).list(), 'InvalidQuery');
      assert.throws(() => bulk.where('n == 1 AND m', '==', 1), (e) => e.code === 'InvalidArgument');
    });

    test('batch: all or nothing, the failing index', async () => {
      const { client } = loggedClient(dev.url);
      await client.login('dev-user-batch');
      const todos = client.db.collection('todos');
      const a = await todos.set('a', { done: true });
      const results = await client.db.batch([
        { op: 'delete', collection: 'todos', id: 'a', ifMatch: a },
        { op: 'create', collection: 'log', data: { removed: 'a' } },
        { op: 'put', collection: 'todos', id: 'b', data: { done: false }, ifNoneMatch: '*' },
      ]);
      assert.equal(results[0].deleted, true);
      assert.equal(results[1].item.data.removed, 'a');
      assert.equal(results[2].item.version, 1);
      const err = await rejects(
        client.db.batch([
          { op: 'patch', collection: 'todos', id: 'b', patch: { done: true } },
          { op: 'put', collection: 'todos', id: 'b2', data: {}, ifMatch: 3 },
        ]),
        'PreconditionFailed',
      );
      assert.equal(err.index, 1);
      assert.equal((await todos.get('b')).data.done, false);
      await rejects(client.db.batch([]), 'InvalidRequest');
    });

    test('a client clock 10 minutes wrong still works, either way', async () => {
      for (const wrong of [-10 * MIN, 10 * MIN]) {
        const { client, log } = loggedClient(dev.url, { now: () => Date.now() + wrong });
        await client.login('dev-bob');
        assert.ok(Math.abs(client.clockOffset() + wrong) < 3000, `offset ${client.clockOffset()}`);
        const notes = client.db.collection('notes');
        const n = await notes.add({ wrong });
        assert.equal((await notes.get(n.id)).data.wrong, wrong);
        // Forgetting the offset: one RequestExpired, learnt, retried.
        await client.setClockOffset(0);
        await notes.remove(n.id);
        const deletes = log.filter((l) => l.method === 'DELETE');
        assert.deepEqual(deletes.map((l) => l.status), [401, 204]);
        assert.ok(Math.abs(client.clockOffset() + wrong) < 3000);
      }
    });

    test('logout, then the typed logged-out error', async () => {
      const storage = memoryStorage();
      const { client } = loggedClient(dev.url, { storage });
      await client.login('dev-alice');
      // A second copy of the session (another page of the same app, say).
      const copy = memoryStorage();
      copy.set('miniapp:session', storage.get('miniapp:session'));
      const stale = memoryStorage();
      stale.set('miniapp:session', storage.get('miniapp:session'));
      const other = loggedClient(dev.url, { storage: copy });
      assert.equal((await other.client.fetchSession()).userId, 'dev-openid-alice');

      await client.logout();
      assert.equal(await client.session(), null);
      const mine = await rejects(client.db.collection('todos').list(), 'NotLoggedIn');
      assert.ok(mine instanceof LoggedOutError);

      const revoked = await rejects(other.client.db.collection('todos').list(), 'SessionRevoked');
      assert.ok(revoked instanceof LoggedOutError);
      assert.equal(revoked.status, 401);
      assert.equal(other.loggedOut.length, 1);
      assert.equal(copy.get('miniapp:session'), null);
      // Logging out a session the server already ended: 401, forgotten all the same.
      const third = loggedClient(dev.url, { storage: stale });
      await third.client.logout();
      assert.deepEqual(third.log.map((l) => l.status), [401]);
      assert.equal(stale.get('miniapp:session'), null);
      assert.equal(third.loggedOut.length, 0);
    });

    test('two users are isolated', async () => {
      const alice = loggedClient(dev.url).client;
      const bob = loggedClient(dev.url).client;
      await alice.login('dev-alice');
      await bob.login('dev-bob');
      const a = alice.db.collection('secrets');
      const b = bob.db.collection('secrets');
      const mine = await a.add({ owner: 'alice' });
      await rejects(b.get(mine.id), 'NotFound');
      await rejects(b.update(mine.id, { owner: 'bob' }, { ifMatch: mine }), 'PreconditionFailed');
      await rejects(b.remove(mine.id), 'NotFound');
      assert.deepEqual((await b.list()).items, []);
      const bobs = await b.set(mine.id, { owner: 'bob' });
      assert.equal(bobs.version, 1, 'the same id is a separate item for bob');
      assert.equal((await a.get(mine.id)).data.owner, 'alice');
      assert.deepEqual((await a.all().toArray()).map((x) => x.data.owner), ['alice']);
    });

    // CONTRACT.md §5: `If-Match: *` matches any existing item, and is 412 on an absent one.
    test('If-Match: * on PUT, PATCH and DELETE', async () => {
      const { client } = loggedClient(dev.url);
      await client.login('dev-alice');
      const c = client.db.collection('star');
      await rejects(c.update('absent', { a: 1 }, { ifMatch: '*' }), 'PreconditionFailed');
      await rejects(c.set('absent', { a: 1 }, { ifMatch: '*' }), 'PreconditionFailed');
      const item = await c.add({ a: 1 });
      assert.equal((await c.update(item.id, { b: 2 }, { ifMatch: '*' })).version, 2);
      assert.equal((await c.set(item.id, { c: 3 }, { ifMatch: '*' })).version, 3);
      await c.remove(item.id, { ifMatch: '*' });
    });

    test('a Mini Program (my.request stand-in): getAuthCode, emulated PATCH', async (t) => {
      globalThis.my = fakeMy({ authCode: 'dev-user-mini' });
      t.after(() => {
        delete globalThis.my;
      });
      const client = createClient({ baseUrl: dev.url });
      assert.equal((await client.login()).userId, 'dev-openid-mini');
      const c = client.db.collection('mini');
      const item = await c.add({ a: 1, b: { c: 2 } });
      const updated = await c.update(item.id, { b: { c: null, d: 3 } });
      assert.deepEqual(updated.data, { a: 1, b: { d: 3 } });
      assert.ok(!globalThis.my.calls.some((x) => x.method === 'PATCH'));
      await client.logout();
    });

    test('a WeChat Mini Program (wx stand-in): wx.login, the WeChat stand-in, wechat: ids', async (t) => {
      globalThis.wx = fakeWx({ loginCode: 'dev-wx-mini' });
      t.after(() => {
        delete globalThis.wx;
      });
      const client = createClient({ baseUrl: dev.url });
      assert.equal((await client.login()).userId, 'wechat:dev-wx-openid-mini');
      assert.ok(globalThis.wx.calls.some((x) => x.login !== undefined), 'wx.login was called');
      const c = client.db.collection('mini');
      const item = await c.add({ from: 'wechat' });
      assert.deepEqual((await c.get(item.id)).data, { from: 'wechat' });
      const busy = createClient({ baseUrl: dev.url, transport: 'fetch', storage: memoryStorage(), provider: 'wechat' });
      const err = await rejects(busy.login('dev-wx-ratelimited'), 'UpstreamBusy');
      assert.equal(err.status, 503);
      assert.equal(err.retryAfter, 60);
      await client.logout();
    });

    test('short credential lifetime: one refresh after expiry for ten parallel calls', async () => {
      // No early refresh: with 2 s credentials the default margin (half the lifetime) would
      // legitimately refresh again when the ten calls take over a second (a loaded machine,
      // moto); what is tested is that ten calls on expired credentials share one refresh.
      const { client, log } = loggedClient(short.url, { refreshMarginMs: 0 });
      await client.login('dev-user-refresher');
      await sleep(2200); // the 2 s credentials have expired
      const pages = await Promise.all(Array.from({ length: 10 }, () => client.db.collection('r').list()));
      assert.equal(pages.length, 10);
      assert.equal(log.filter((l) => l.path === '/session/refresh').length, 1);
      assert.ok(log.every((l) => l.status < 400), JSON.stringify(log));
    });

    test('short credential lifetime: 401 CredentialsExpired, refresh, retry', async () => {
      const { client, log } = loggedClient(short.url, { refreshMarginMs: 0 });
      await client.login('dev-user-late');
      // The device believes it is 5 s earlier than it is (well within the 300 s window, and
      // more than the learnt offset's error of about a second): it sends credentials that
      // the server already considers expired.
      await client.setClockOffset(client.clockOffset() - 5000);
      await sleep(2300);
      await client.db.collection('r').add({ x: 1 });
      const trail = log.slice(1).map((l) => `${l.method} ${l.path} ${l.status}`);
      assert.deepEqual(trail, ['POST /db/r 401', 'POST /session/refresh 200', 'POST /db/r 201']);
    });

    test('session expiry: the refresh is refused, LoggedOutError, onLoggedOut once', async () => {
      const wait = expiringSince + 7500 - Date.now();
      if (wait > 0) await sleep(wait);
      const { client, loggedOut, log } = expiring;
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => client.db.collection('r').list()));
      for (const r of results) {
        assert.ok(r.reason instanceof LoggedOutError, String(r.reason));
        assert.equal(r.reason.code, 'SessionExpired');
      }
      assert.equal(loggedOut.length, 1);
      assert.equal(await client.session(), null);
      assert.equal(log.filter((l) => l.path === '/session/refresh').length, 1);
    });
  });
}
