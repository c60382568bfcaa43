// The web page as a person uses it, in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core, no browser download), against the real `miniapp dev` that serves both the page
// (/app/) and the API. What the page shows is checked against the server (a second device).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { apiUrl, otherDevice } = require('./support/env');
const { sunsetPng } = require('./support/png');

const BASE = apiUrl();
const SCREENSHOT = process.env.TODO_SCREENSHOT || path.join(__dirname, '../../../target/todo-web.png');
const PHOTO_SCREENSHOT = SCREENSHOT.replace(/\.png$/, '-photo.png');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let browser;
let alice; // the browser of dev-alice
let aliceApi; // dev-alice on another device
const pageErrors = [];

/** Deletes everything `client` has in todos, so the run starts from a known state. */
async function emptyTodos(client) {
  const col = client.db.collection('todos');
  for (const item of await col.all().toArray()) await col.remove(item.id);
}

async function openApp(context, query = '') {
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${BASE}/app/${query}`);
  return page;
}

async function logIn(page, code) {
  await page.locator('#login').waitFor();
  if (code) await page.fill('#auth-code', code);
  await page.click('#login-button');
  await page.locator('#app').waitFor();
}

const rows = (page) => page.locator('#list li.row');
const row = (page, title) => page.locator('#list li.row', { has: page.locator('.title', { hasText: title }) });

/** Waits until the list shows exactly `titles`, in order, with no change on its way. */
async function waitForList(page, titles) {
  try {
    await page.waitForFunction(
      (want) => {
        const got = [...document.querySelectorAll('#list li.row')];
        return (
          got.every((r) => !r.classList.contains('busy')) &&
          JSON.stringify(got.map((r) => (r.querySelector('.title') || {}).textContent)) === JSON.stringify(want)
        );
      },
      titles,
      { timeout: 10000 },
    );
  } catch (err) {
    const shown = await page.locator('#list .title').allTextContents();
    throw new Error(`the list shows ${JSON.stringify(shown)}, not ${JSON.stringify(titles)}: ${err.message}`);
  }
}

async function doneTitles(page) {
  return page.locator('#list li.row.done .title').allTextContents();
}

async function storedTodos(client) {
  const items = await client.db.collection('todos').all({ order: 'desc' }).toArray();
  return items.map((i) => [i.data.title, i.data.done]);
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  aliceApi = await otherDevice('dev-alice');
  await emptyTodos(aliceApi);
  await emptyTodos(await otherDevice('dev-bob'));
  alice = await browser.newContext({ viewport: { width: 960, height: 720 } });
});

after(async () => {
  if (browser) await browser.close();
});

test('serves the page and the SDK from miniapp dev', async () => {
  const page = await fetch(`${BASE}/app/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  const sdk = await fetch(`${BASE}/app/sdk.js`);
  assert.equal(sdk.status, 200);
  assert.match(sdk.headers.get('content-type'), /^text\/javascript/);
  assert.match(await sdk.text(), /@miniapp\/client/);
  assert.equal((await fetch(`${BASE}/app/nothing-here.js`)).status, 404);
  assert.equal((await fetch(`${BASE}/app`, { redirect: 'manual' })).headers.get('location'), '/app/');
});

test('logs in with the default dev code and shows the empty state', async () => {
  const page = await openApp(alice);
  await page.locator('#login').waitFor();
  assert.equal(await page.inputValue('#auth-code'), 'dev-alice');
  await logIn(page);
  assert.equal(await page.textContent('#user'), 'dev-openid-alice');
  await page.locator('#empty').waitFor();
  assert.equal(await rows(page).count(), 0);
  await page.close();
});

test('adds three todos, completes one, deletes one; a reload shows the same', async () => {
  const page = await openApp(alice);
  await page.locator('#app').waitFor();
  for (const title of ['Buy milk', 'Call Bob', 'Water plants']) {
    await page.fill('#new-title', title);
    await page.press('#new-title', 'Enter');
    await row(page, title).waitFor();
  }
  await waitForList(page, ['Water plants', 'Call Bob', 'Buy milk']);
  assert.equal(await page.inputValue('#new-title'), '');
  assert.ok(await page.locator('#empty').isHidden());

  await row(page, 'Call Bob').locator('.check').check();
  await page.locator('#list li.row.done:not(.busy)').waitFor();
  await row(page, 'Buy milk').locator('.delete').click();
  await waitForList(page, ['Water plants', 'Call Bob']);
  assert.deepEqual(await doneTitles(page), ['Call Bob']);
  assert.equal(await page.textContent('#count'), '1 of 2 left');
  assert.deepEqual(await storedTodos(aliceApi), [['Water plants', false], ['Call Bob', true]]);

  await page.reload();
  await page.locator('#app').waitFor();
  await waitForList(page, ['Water plants', 'Call Bob']);
  assert.deepEqual(await doneTitles(page), ['Call Bob']);
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  await page.close();
});

test('attaches a photo to a todo: uploaded straight to storage, shown as a thumbnail', async () => {
  const photo = path.join(fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'todo-photo-')), 'sunset.png');
  fs.writeFileSync(photo, sunsetPng());
  const page = await openApp(alice);
  await waitForList(page, ['Water plants', 'Call Bob']);
  const chooser = page.waitForEvent('filechooser');
  await row(page, 'Water plants').locator('.photo').click();
  await (await chooser).setFiles(photo);
  const thumb = row(page, 'Water plants').locator('img.thumb');
  await thumb.waitFor();
  await page.waitForFunction(() => {
    const img = document.querySelector('#list img.thumb');
    return img && img.complete && img.naturalWidth > 0;
  });
  assert.equal(await thumb.evaluate((img) => img.naturalWidth), 160);
  // Stored as the todo's photo: a file of hers, ready, whose bytes are the PNG.
  const stored = (await aliceApi.db.collection('todos').list({ order: 'desc' })).items;
  const withPhoto = stored.find((i) => i.data.title === 'Water plants');
  const file = await aliceApi.files.get(withPhoto.data.photo);
  assert.deepEqual([file.status, file.contentType, file.name], ['ready', 'image/png', 'sunset.png']);
  const bytes = Buffer.from(await (await fetch(await aliceApi.files.url(file.id))).arrayBuffer());
  assert.ok(bytes.equals(fs.readFileSync(photo)), 'the stored bytes are the photo');
  // Still there after a reload (a fresh link).
  await page.reload();
  await waitForList(page, ['Water plants', 'Call Bob']);
  await page.waitForFunction(() => {
    const img = document.querySelector('#list img.thumb');
    return img && img.complete && img.naturalWidth > 0;
  });
  await page.screenshot({ path: PHOTO_SCREENSHOT, fullPage: true });
  await page.close();
});

test('renames a todo in place', async () => {
  const page = await openApp(alice);
  await waitForList(page, ['Water plants', 'Call Bob']);
  await row(page, 'Water plants').locator('.title').dblclick();
  await page.fill('#list .edit-input', 'Water the plants');
  await page.press('#list .edit-input', 'Enter');
  await waitForList(page, ['Water the plants', 'Call Bob']);
  assert.deepEqual(await storedTodos(aliceApi), [['Water the plants', false], ['Call Bob', true]]);
  await page.close();
});

test('a todo changed elsewhere meanwhile: the change is refused, a message says so, the list reloads', async () => {
  const page = await openApp(alice);
  await waitForList(page, ['Water the plants', 'Call Bob']);
  const stored = (await aliceApi.db.collection('todos').list({ order: 'desc' })).items;
  const bob = stored.find((i) => i.data.title === 'Call Bob');
  await aliceApi.db.collection('todos').update(bob.id, { title: 'Call Bob back', done: false });

  await row(page, 'Call Bob').locator('.check').click(); // the page still shows version 2, done
  await page.locator('#notice').waitFor();
  assert.match(await page.textContent('#notice'), /changed elsewhere.*not saved.*reloaded/);
  await waitForList(page, ['Water the plants', 'Call Bob back']);
  assert.deepEqual(await doneTitles(page), []);
  const now = await aliceApi.db.collection('todos').get(bob.id);
  assert.deepEqual([now.version, now.data.done], [3, false], 'the stale click wrote nothing');
  await page.close();
});

test('pages the list with Load more', async () => {
  const page = await openApp(alice, '?limit=1');
  await waitForList(page, ['Water the plants']);
  await page.locator('#load-more').waitFor();
  await page.click('#load-more');
  await waitForList(page, ['Water the plants', 'Call Bob back']);
  assert.ok(await page.locator('#load-more').isHidden());
  await page.close();
});

test('clear completed: one batch deletes every completed todo, shown or not, and nothing else', async () => {
  const col = aliceApi.db.collection('todos');
  await col.add({ title: 'Pay rent', done: true });
  await col.add({ title: 'Book dentist', done: false });
  const page = await openApp(alice, '?limit=2');
  await waitForList(page, ['Book dentist', 'Pay rent']);
  // Completed and not shown (beyond the first page): cleared too.
  const bob = (await col.all().toArray()).find((i) => i.data.title === 'Call Bob back');
  await col.update(bob.id, { done: true });
  const posts = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/db') posts.push(JSON.parse(r.postData()));
  });
  await page.locator('#clear-completed').waitFor();
  await page.click('#clear-completed');
  await waitForList(page, ['Book dentist', 'Water the plants']);
  assert.match(await page.textContent('#notice'), /Cleared 2 completed todos/);
  assert.equal(posts.length, 1, 'one batch');
  assert.deepEqual(posts[0].operations.map((o) => o.op), ['delete', 'delete']);
  assert.deepEqual(await storedTodos(aliceApi), [['Book dentist', false], ['Water the plants', false]]);
  assert.ok(await page.locator('#clear-completed').isHidden(), 'nothing completed is shown');
  assert.deepEqual(await doneTitles(page), []);
  await page.close();
});

test('a second user, in a fresh browser, sees none of them', async () => {
  const context = await browser.newContext();
  const page = await openApp(context);
  await logIn(page, 'dev-bob');
  assert.equal(await page.textContent('#user'), 'dev-openid-bob');
  await page.locator('#empty').waitFor();
  assert.equal(await rows(page).count(), 0);
  await context.close();
});

test('logs out, and stays logged out after a reload', async () => {
  const page = await openApp(alice);
  await page.locator('#app').waitFor();
  await page.click('#logout');
  await page.locator('#login').waitFor();
  await page.reload();
  await page.locator('#login').waitFor();
  assert.ok(await page.locator('#app').isHidden());
  assert.deepEqual(pageErrors, [], 'no script errors in the page');
});
