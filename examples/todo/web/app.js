// The Todo app in a browser, on the same SDK as the Mini Program (its browser bundle, served by
// `miniapp dev` as /app/sdk.js). The session is kept in localStorage; every change names the
// version it was made on (If-Match), so a change made meanwhile elsewhere is never overwritten.
import { createClient, LoggedOutError } from './sdk.js';
import { choosePhoto, forgetPhoto, thumbnail, uploadPhoto } from './photos.js';

const params = new URLSearchParams(location.search);
/** `?limit=N` pages by N (1 to 100), to try "Load more" with a short list. */
const PAGE_SIZE = Math.min(100, Math.max(1, Number(params.get('limit')) || 20));
/** `?api=URL` talks to another API; by default the one that served this page. */
const API = (params.get('api') || location.origin).replace(/\/$/, '');

const client = createClient({
  baseUrl: API,
  onLoggedOut: () => showLogin('Your session has ended. Please log in again.'),
});
const todos = client.db.collection('todos');

const state = {
  /** Items as stored: `{id, version, createdAt, updatedAt, data: {title, done}}`, newest first. */
  items: [],
  nextCursor: null,
  editingId: null,
  /** Ids with a change on its way. */
  pending: new Set(),
};

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

const sameDay = (a, b) => a.toDateString() === b.toDateString();
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** `Added 14:05` today, `Added Nov 24` before. */
function whenAdded(item) {
  const at = new Date(item.createdAt);
  if (Number.isNaN(at.getTime())) return '';
  return `Added ${sameDay(at, new Date()) ? timeFormat.format(at) : dayFormat.format(at)}`;
}

const titleOf = (item) => (typeof item.data.title === 'string' ? item.data.title : '');
const isDone = (item) => item.data.done === true;
const photoOf = (item) => (typeof item.data.photo === 'string' ? item.data.photo : null);

// ---- screens ----

function showLogin(message) {
  Object.assign(state, { items: [], nextCursor: null, editingId: null });
  $('booting').hidden = true;
  $('app').hidden = true;
  $('account').hidden = true;
  $('login').hidden = false;
  if (message) notify(message, 'warn');
  $('auth-code').focus();
}

function showApp(session) {
  $('booting').hidden = true;
  $('login').hidden = true;
  $('app').hidden = false;
  $('account').hidden = false;
  $('user').textContent = session.userId;
  $('new-title').focus();
}

let noticeTimer;
/** A message at the bottom of the window for a few seconds. */
function notify(text, kind = 'info') {
  const box = $('notice');
  box.textContent = text;
  box.className = `notice ${kind}`;
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    box.hidden = true;
  }, 6000);
}

// ---- the list ----

function render() {
  const list = $('list');
  list.replaceChildren(...state.items.map(renderRow));
  const left = state.items.filter((i) => !isDone(i)).length;
  const total = state.items.length;
  $('count').textContent = total === 0 ? '' : `${left} of ${total}${state.nextCursor ? '+' : ''} left`;
  $('empty').hidden = total > 0;
  $('foot').hidden = total === 0;
  $('load-more').hidden = !state.nextCursor;
  $('all-shown').hidden = Boolean(state.nextCursor);
  $('clear-completed').hidden = left === total;
  const editor = list.querySelector('.edit-input');
  if (editor) {
    editor.focus();
    editor.select();
  }
}

function renderRow(item) {
  const busy = state.pending.has(item.id);
  const row = el('li', { className: `row${isDone(item) ? ' done' : ''}${busy ? ' busy' : ''}` });
  row.dataset.id = item.id;
  const check = el('input', {
    type: 'checkbox',
    className: 'check',
    checked: isDone(item),
    disabled: busy,
    title: isDone(item) ? 'Mark as not done' : 'Mark as done',
  });
  check.setAttribute('aria-label', `Done: ${titleOf(item)}`);
  check.addEventListener('change', () => toggle(item));
  row.append(check);

  if (state.editingId === item.id) {
    row.append(renderEditor(item));
  } else {
    const title = el('span', { className: 'title', textContent: titleOf(item), title: 'Double-click to rename' });
    title.addEventListener('dblclick', () => startEdit(item));
    const text = el('div', { className: 'text' }, title, el('span', { className: 'meta', textContent: whenAdded(item) }));
    if (photoOf(item)) row.append(thumbnail(client, photoOf(item), `Photo of ${titleOf(item)}`));
    const photo = el('button', { type: 'button', className: 'icon photo', title: photoOf(item) ? 'Replace the photo' : 'Attach a photo' });
    photo.setAttribute('aria-label', `Attach a photo to ${titleOf(item)}`);
    photo.addEventListener('click', () => attach(item));
    row.append(text, photo);
    const edit = el('button', { type: 'button', className: 'icon edit', title: 'Rename', textContent: '✎' });
    edit.setAttribute('aria-label', `Rename ${titleOf(item)}`);
    edit.addEventListener('click', () => startEdit(item));
    const del = el('button', { type: 'button', className: 'icon delete', title: 'Delete', textContent: '×' });
    del.setAttribute('aria-label', `Delete ${titleOf(item)}`);
    del.addEventListener('click', () => remove(item));
    row.append(edit, del);
  }
  return row;
}

function renderEditor(item) {
  const input = el('input', { className: 'edit-input', value: titleOf(item), maxLength: 200 });
  input.setAttribute('aria-label', 'Title');
  let done = false;
  const finish = (save) => {
    if (done) return;
    done = true;
    state.editingId = null;
    const title = input.value.trim();
    if (save && title && title !== titleOf(item)) {
      write(item, () => todos.update(item.id, { title }, { ifMatch: item }));
    } else {
      render();
    }
  };
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') finish(true);
    if (e.key === 'Escape') finish(false);
  });
  input.addEventListener('blur', () => finish(true));
  return input;
}

function startEdit(item) {
  if (state.pending.has(item.id)) return;
  state.editingId = item.id;
  render();
}

// ---- talking to the API ----

async function reload() {
  try {
    const page = await todos.list({ order: 'desc', limit: PAGE_SIZE });
    state.items = page.items;
    state.nextCursor = page.nextCursor;
    state.editingId = null;
    render();
  } catch (err) {
    failed(err);
  }
}

async function loadMore() {
  const button = $('load-more');
  if (!state.nextCursor || button.disabled) return;
  button.disabled = true;
  button.textContent = 'Loading…';
  try {
    const page = await todos.list({ order: 'desc', limit: PAGE_SIZE, cursor: state.nextCursor });
    const shown = new Set(state.items.map((i) => i.id));
    state.items = state.items.concat(page.items.filter((i) => !shown.has(i.id)));
    state.nextCursor = page.nextCursor;
    render();
  } catch (err) {
    failed(err);
  } finally {
    button.disabled = false;
    button.textContent = 'Load more';
  }
}

async function add(title) {
  const item = await todos.add({ title, done: false });
  state.items = [item, ...state.items];
  render();
}

function toggle(item) {
  return write(item, () => todos.update(item.id, { done: !isDone(item) }, { ifMatch: item }));
}

function remove(item) {
  return write(item, async () => {
    await todos.remove(item.id, { ifMatch: item });
    if (photoOf(item)) forgetPhoto(client, photoOf(item));
    return null;
  });
}

/** Most operations in one `db.batch` (docs/api.md §4.6). */
const MAX_BATCH = 25;

/**
 * Deletes every completed todo, shown or not: the server finds them (`where done == true`),
 * then one `db.batch` deletes them all or none (one batch per 25), each at the version read, so
 * a todo changed elsewhere in between is not deleted (and its batch deletes nothing).
 */
async function clearCompleted() {
  const button = $('clear-completed');
  if (button.disabled) return;
  button.disabled = true;
  try {
    const done = await todos.where('done', '==', true).all({ limit: 100 }).toArray();
    const ops = done.map((i) => ({ op: 'delete', collection: 'todos', id: i.id, ifMatch: i }));
    for (let i = 0; i < ops.length; i += MAX_BATCH) await client.db.batch(ops.slice(i, i + MAX_BATCH));
    // The first page again: rows shown may have changed elsewhere too (un-completed, say).
    await reload();
    notify(`Cleared ${done.length} completed ${done.length === 1 ? 'todo' : 'todos'}.`);
  } catch (err) {
    failed(err);
  } finally {
    button.disabled = false;
  }
}

/** Asks for a photo, uploads it, and names it in the todo (the old one is deleted). */
async function attach(item) {
  const file = await choosePhoto();
  if (!file) return;
  await write(item, async () => {
    const id = await uploadPhoto(client, file);
    const changed = await todos.update(item.id, { photo: id }, { ifMatch: item });
    if (photoOf(item)) forgetPhoto(client, photoOf(item));
    return changed;
  });
}

/** Sends one change of `item`; the answer (null: deleted) takes its place in the list. */
async function write(item, send) {
  if (state.pending.has(item.id)) return;
  state.pending.add(item.id);
  render();
  try {
    const changed = await send();
    state.items = changed
      ? state.items.map((i) => (i.id === item.id ? changed : i))
      : state.items.filter((i) => i.id !== item.id);
  } catch (err) {
    failed(err, item);
  } finally {
    state.pending.delete(item.id);
    render();
  }
}

/** Says what went wrong; a change that lost to another one reloads the list. */
function failed(err, item) {
  if (err instanceof LoggedOutError) {
    showLogin('Your session has ended. Please log in again.');
    return;
  }
  const name = item ? `“${titleOf(item)}”` : 'This todo';
  if (err && err.code === 'PreconditionFailed') {
    notify(`${name} was changed elsewhere, so your change was not saved. The list has been reloaded.`, 'warn');
    reload();
  } else if (err && /^(UnsupportedFileType|FileTooLarge|FileQuotaExceeded|EntityTooLarge)$/.test(err.code)) {
    notify(`That photo could not be attached: ${err.message}`, 'error');
  } else if (err && err.code === 'NotFound') {
    notify(`${name} was deleted elsewhere. The list has been reloaded.`, 'warn');
    reload();
  } else {
    const id = err && err.requestId ? ` (request ${err.requestId})` : '';
    notify(`${(err && err.message) || 'Something went wrong'}${id}`, 'error');
  }
}

// ---- wiring ----

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const button = $('login-button');
  button.disabled = true;
  button.textContent = 'Logging in…';
  try {
    const session = await client.login($('auth-code').value.trim());
    $('notice').hidden = true;
    showApp(session);
    await reload();
  } catch (err) {
    notify(err && err.code === 'AuthCodeInvalid' ? 'That auth code was refused.' : `Could not log in: ${err.message}`, 'error');
  } finally {
    button.disabled = false;
    button.textContent = 'Log in';
  }
});

$('logout').addEventListener('click', async () => {
  try {
    await client.logout();
  } catch {
    // Offline: the server could not be told, but this browser has forgotten the session.
  }
  showLogin();
});

$('add-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('new-title');
  const title = input.value.trim();
  if (!title) {
    input.focus();
    return;
  }
  const button = $('add-button');
  button.disabled = true;
  try {
    await add(title);
    input.value = '';
  } catch (err) {
    failed(err);
  } finally {
    button.disabled = false;
    input.focus();
  }
});

$('load-more').addEventListener('click', loadMore);
$('clear-completed').addEventListener('click', clearCompleted);
$('api').textContent = API;

client.session().then(
  async (session) => {
    if (!session) {
      showLogin();
      return;
    }
    showApp(session);
    await reload();
  },
  (err) => notify(`Could not read the saved session: ${err.message}`, 'error'),
);
