// The Mini Program's real page file, run under the runtime stand-in against a real `miniapp dev`:
// each handler is called as the runtime would call it, and its effect is checked both in the
// page's data and on the server (through a second device).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { memoryStorage } = require('@miniapp/client');
const { MiniProgram, event } = require('./support/miniprogram');
const { apiUrl, freshUser, otherDevice } = require('./support/env');

const PAGE_SIZE = 5;
const mp = new MiniProgram({
  root: path.join(__dirname, '..'),
  config: { apiBase: apiUrl(), pageSize: PAGE_SIZE },
});
const my = mp.my;
const alice = freshUser('mp');
let page;
let other; // alice on another device

const titles = () => page.data.todos.map((r) => r.title);
const rowTitled = (title) => page.data.todos.find((r) => r.title === title);
const input = (value) => event({}, { value });
const header = (req, name) => {
  const key = Object.keys(req.headers).find((k) => k.toLowerCase() === name);
  return key && req.headers[key];
};

test('starts logged out, then logs in through my.getAuthCode', async () => {
  mp.launch();
  page = mp.open('pages/index/index');
  await page.onLoad({});
  assert.equal(page.data.checked, true);
  assert.equal(page.data.loggedIn, false);
  assert.deepEqual(page.data.todos, []);

  my.authCode = alice.code;
  await page.onLogin();
  assert.equal(page.data.loggedIn, true);
  assert.equal(page.data.userId, alice.userId);
  assert.equal(page.data.loggingIn, false);
  assert.deepEqual(page.data.todos, []);
  assert.equal(page.data.nextCursor, null);
  const session = my.storage.get('miniapp:session');
  assert.ok(session && session.includes(alice.userId), 'the session is kept in my storage');
  other = await otherDevice(alice.code);
});

test('a refused auth code keeps the login screen and says so', async () => {
  const p = mp.open('pages/index/index');
  p.data.checked = true;
  my.authCode = 'dev-invalid';
  await p.onLogin();
  assert.equal(p.data.loggedIn, false);
  assert.equal(p.data.loggingIn, false);
  assert.match(my.lastToast(), /refused/i);
  my.authCode = alice.code;
});

test('adds todos, newest first; a blank title sends nothing', async () => {
  page.onNewInput(input('   '));
  const sent = my.requests.length;
  await page.onAdd();
  assert.equal(my.requests.length, sent);
  assert.match(my.lastToast(), /type a todo/i);

  for (const t of ['Buy milk', '  Call Bob ', 'Water plants']) {
    page.onNewInput(input(t));
    await page.onAdd();
    assert.equal(page.data.newTitle, '');
  }
  assert.deepEqual(titles(), ['Water plants', 'Call Bob', 'Buy milk']);
  assert.equal(page.data.left, 3);
  const { items } = await other.db.collection('todos').list({ order: 'desc' });
  assert.deepEqual(
    items.map((i) => [i.data.title, i.data.done, i.version]),
    [['Water plants', false, 1], ['Call Bob', false, 1], ['Buy milk', false, 1]],
  );
});

test('toggles done with If-Match on the version shown; PATCH is never sent', async () => {
  const row = rowTitled('Call Bob');
  const sent = my.requests.length;
  await page.onToggle(event({ id: row.id }));
  assert.equal(rowTitled('Call Bob').done, true);
  assert.equal(rowTitled('Call Bob').version, 2);
  assert.equal(page.data.left, 2);
  const writes = my.requests.slice(sent).filter((r) => r.method !== 'GET');
  assert.deepEqual(writes.map((r) => r.method), ['PUT'], 'my.request cannot PATCH: the SDK PUTs');
  assert.equal(header(writes[0], 'if-match'), '"1"');
  const stored = await other.db.collection('todos').get(row.id);
  assert.deepEqual([stored.data, stored.version], [{ title: 'Call Bob', done: true }, 2]);

  await page.onToggle(event({ id: row.id }));
  assert.equal(rowTitled('Call Bob').done, false);
  assert.equal(page.data.left, 3);
});

test('renames a todo; the blur after the confirm sends nothing more', async () => {
  const row = rowTitled('Buy milk');
  page.onEditStart(event({ id: row.id }));
  assert.equal(page.data.editingId, row.id);
  assert.equal(page.data.editTitle, 'Buy milk');
  page.onEditInput(input('Buy oat milk '));
  await page.onEditSave();
  const sent = my.requests.length;
  await page.onEditSave();
  assert.equal(my.requests.length, sent);
  assert.equal(page.data.editingId, '');
  assert.equal(rowTitled('Buy oat milk').id, row.id);
  const stored = await other.db.collection('todos').get(row.id);
  assert.equal(stored.data.title, 'Buy oat milk');
});

test('a todo changed on another device meanwhile: the toggle is refused, a toast says so, the list reloads', async () => {
  const row = rowTitled('Water plants');
  await other.db.collection('todos').update(row.id, { title: 'Water the plants', done: true });
  await page.onToggle(event({ id: row.id }));
  assert.match(my.lastToast(), /another device/);
  const shown = page.data.todos.find((r) => r.id === row.id);
  assert.deepEqual([shown.title, shown.done, shown.version], ['Water the plants', true, 2]);
  const stored = await other.db.collection('todos').get(row.id);
  assert.equal(stored.version, 2, 'the stale toggle wrote nothing');
});

test('deletes after a confirm; a cancel or a stale version deletes nothing', async () => {
  const row = rowTitled('Buy oat milk');
  my.confirmAnswer = false;
  const sent = my.requests.length;
  await page.onDelete(event({ id: row.id }));
  assert.equal(my.requests.length, sent);
  assert.ok(rowTitled('Buy oat milk'));

  my.confirmAnswer = true;
  await other.db.collection('todos').update(row.id, { note: 'changed elsewhere' });
  await page.onDelete(event({ id: row.id }));
  assert.match(my.lastToast(), /another device/);
  assert.equal(rowTitled('Buy oat milk').version, 3, 'reloaded with the new version');

  await page.onDelete(event({ id: row.id }));
  assert.equal(rowTitled('Buy oat milk'), undefined);
  assert.deepEqual(titles(), ['Water the plants', 'Call Bob']);
  assert.equal(page.data.left, 1);
  await assert.rejects(other.db.collection('todos').get(row.id), { code: 'NotFound', status: 404 });
});

test('pull-down refresh shows the first page; reaching the bottom loads the rest', async () => {
  const col = other.db.collection('todos');
  for (let i = 1; i <= 12; i += 1) await col.add({ title: `Task ${i}`, done: i % 3 === 0 });
  const stops = my.pullDownStops;
  await page.onPullDownRefresh();
  assert.equal(my.pullDownStops, stops + 1);
  assert.equal(page.data.todos.length, PAGE_SIZE);
  assert.ok(page.data.nextCursor);
  assert.deepEqual(titles(), ['Task 12', 'Task 11', 'Task 10', 'Task 9', 'Task 8']);

  for (let i = 0; page.data.nextCursor && i < 10; i += 1) await page.onReachBottom();
  assert.equal(page.data.nextCursor, null);
  assert.equal(page.data.todos.length, 14);
  const ids = page.data.todos.map((r) => r.id);
  assert.equal(new Set(ids).size, 14);
  assert.deepEqual(ids, [...ids].sort().reverse(), 'newest first');
  assert.equal(page.data.left, 9); // Call Bob and the 8 tasks not divisible by 3
  const sent = my.requests.length;
  await page.onReachBottom();
  assert.equal(my.requests.length, sent, 'nothing more to load');
});

test('clears the completed todos in one batch: loaded or not, and only those still completed', async () => {
  // 14 todos, 5 completed (Water the plants, Tasks 3, 6, 9, 12). Elsewhere meanwhile: Task 3 is
  // un-completed, and a completed one is added that this page has not loaded.
  const col = other.db.collection('todos');
  const task3 = rowTitled('Task 3');
  await col.update(task3.id, { done: false });
  await col.add({ title: 'Done elsewhere', done: true });
  const sent = my.requests.length;
  await page.onClearCompleted();
  const batches = my.requests.slice(sent).filter((r) => r.method === 'POST');
  assert.equal(batches.length, 1, 'one batch');
  assert.match(batches[0].url, /\/db$/);
  const ops = JSON.parse(batches[0].body).operations;
  assert.equal(ops.length, 5);
  assert.ok(ops.every((o) => o.op === 'delete' && o.collection === 'todos' && /^"\d+"$/.test(o.ifMatch)));
  assert.match(my.lastToast(), /Cleared 5/);
  assert.ok(page.data.todos.every((r) => !r.done), 'no completed row left on the page');
  assert.equal(page.data.todos.length, PAGE_SIZE, 'the first page again');
  assert.ok(page.data.nextCursor);
  const stored = await col.all().toArray();
  assert.equal(stored.length, 10);
  assert.deepEqual(stored.filter((i) => i.data.done), [], 'nothing completed is left on the server');
  assert.ok(stored.some((i) => i.id === task3.id));
  // Nothing completed: an empty batch is never sent.
  const before = my.requests.length;
  await page.onClearCompleted();
  assert.equal(my.requests.slice(before).filter((r) => r.method === 'POST').length, 0);
});

test('clear completed is all or nothing: a todo changed between the read and the batch deletes none', async () => {
  const col = other.db.collection('todos');
  const a = await col.add({ title: 'Done A', done: true });
  const b = await col.add({ title: 'Done B', done: true });
  // The page reads the completed todos, then (before its batch) B is renamed elsewhere.
  const request = my.request;
  my.request = (opts) => {
    if (opts.method === 'POST' && /\/db$/.test(opts.url)) {
      my.request = request;
      col.update(b.id, { title: 'Done B, renamed' }).then(() => request(opts), (e) => opts.fail && opts.fail(e));
      return;
    }
    request(opts);
  };
  await page.onClearCompleted();
  my.request = request;
  assert.match(my.lastToast(), /another device/);
  assert.equal((await col.get(a.id)).version, 1, 'A was not deleted: the batch failed whole');
  assert.equal((await col.get(b.id)).data.title, 'Done B, renamed');
  await page.onClearCompleted();
  await assert.rejects(col.get(a.id), { code: 'NotFound' });
  await assert.rejects(col.get(b.id), { code: 'NotFound' });
});

test('attaches a photo with my.chooseImage and my.uploadFile; the row shows it', async () => {
  const { sunsetPng } = require('./support/png');
  const row = page.data.todos[0];
  my.picked = null;
  await page.onAttach(event({ id: row.id }));
  assert.equal(my.uploads.length, 0, 'a cancelled pick uploads nothing');
  my.picked = { path: 'https://resource/apml953b.png', bytes: sunsetPng(48) };
  await page.onAttach(event({ id: row.id }));
  const up = my.uploads[0];
  assert.deepEqual([up.url, up.fileName, up.fileType, up.filePath], [`${apiUrl()}/files/_upload`, 'file', 'image', my.picked.path]);
  assert.deepEqual(Object.keys(up.formData).sort(), ['Content-Type', 'key', 'policy', 'x-miniapp-signature']);
  const shown = page.data.todos.find((r) => r.id === row.id);
  assert.ok(shown.photo && shown.photoUrl, JSON.stringify(shown));
  const got = await fetch(shown.photoUrl);
  assert.equal(got.headers.get('content-type'), 'image/png');
  assert.ok(Buffer.from(await got.arrayBuffer()).equals(my.picked.bytes));
  const stored = await other.db.collection('todos').get(row.id);
  assert.equal(stored.data.photo, shown.photo);
  page.onPreview(event({ id: row.id }));
  assert.deepEqual(my.previews.at(-1), [shown.photoUrl]);
});

test('the session outlives a restart of the app', async () => {
  mp.launch();
  page = mp.open('pages/index/index');
  await page.onLoad({});
  assert.equal(page.data.loggedIn, true);
  assert.equal(page.data.userId, alice.userId);
  assert.equal(page.data.todos.length, PAGE_SIZE);
});

test('a session ended elsewhere brings back the login screen', async () => {
  const copy = memoryStorage();
  for (const [k, v] of my.storage) copy.set(k, v);
  const sameSession = await otherDevice(null, copy);
  await sameSession.logout(); // DELETE /session: revoked everywhere
  await page.onToggle(event({ id: page.data.todos[0].id }));
  assert.equal(page.data.loggedIn, false);
  assert.deepEqual(page.data.todos, []);
  assert.match(my.lastToast(), /log in again/);
});

test('logs in again, then logs out: the server forgets the session', async () => {
  await page.onLogin();
  assert.equal(page.data.loggedIn, true);
  assert.equal(page.data.todos.length, PAGE_SIZE);
  const copy = memoryStorage();
  for (const [k, v] of my.storage) copy.set(k, v);
  await page.onLogout();
  assert.equal(page.data.loggedIn, false);
  assert.deepEqual(page.data.todos, []);
  assert.equal(my.storage.has('miniapp:session'), false);
  const stale = await otherDevice(null, copy);
  await assert.rejects(stale.fetchSession(), { name: 'LoggedOutError' });

  const fresh = mp.open('pages/index/index');
  await fresh.onLoad({});
  assert.equal(fresh.data.loggedIn, false);
});
