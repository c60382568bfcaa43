// The Todo page: log in with Alipay, then list (paged, newest first), add, complete, rename and
// delete todos, and clear the completed ones in one atomic batch. Every change of an item names the version it was made on (If-Match), so a change
// made meanwhile on another device is never overwritten: the page says so and reloads.
const { LoggedOutError } = require('@miniapp/client');
const config = require('../../config');
const logic = require('./logic');

function client() {
  return getApp().client;
}

function todos() {
  return client().db.collection(config.collection);
}

/** Asks before something that cannot be undone; resolves true for yes. */
function confirm(content) {
  return new Promise((resolve) => {
    my.confirm({
      title: 'Delete todo',
      content,
      confirmButtonText: 'Delete',
      cancelButtonText: 'Cancel',
      success: (res) => resolve(Boolean(res && res.confirm)),
      fail: () => resolve(false),
    });
  });
}

/** Resolves to what `my.<name>(opts)` hands its `success`; rejects with its `fail` answer. */
function call(name, opts) {
  return new Promise((resolve, reject) => {
    my[name](Object.assign({}, opts, { success: resolve, fail: reject }));
  });
}

/** Asks for one photo (album or camera): its path and size, or null when cancelled. */
async function pickPhoto() {
  let picked;
  try {
    picked = await call('chooseImage', { count: 1, sourceType: ['album', 'camera'] });
  } catch (err) {
    return null; // cancelled
  }
  const filePath = (picked.apFilePaths || picked.tempFilePaths || [])[0];
  if (!filePath) return null;
  const info = await call('getFileInfo', { apFilePath: filePath });
  return { filePath, size: info.size };
}

/** The list part of the page's data, empty. */
function emptyList() {
  return { todos: [], left: 0, nextCursor: null, newTitle: '', editingId: '', editTitle: '' };
}

Page({
  data: Object.assign(
    {
      checked: false, // the stored session has been looked at
      loggedIn: false,
      userId: '',
      loggingIn: false,
      loading: false,
      loadingMore: false,
    },
    emptyList(),
  ),

  async onLoad() {
    this.pending = {};
    const session = await client().session();
    this.setData({ checked: true, loggedIn: Boolean(session), userId: session ? session.userId : '' });
    if (session) await this.reload();
  },

  async onPullDownRefresh() {
    try {
      if (this.data.loggedIn) await this.reload();
    } finally {
      my.stopPullDownRefresh();
    }
  },

  onReachBottom() {
    return this.onLoadMore();
  },

  async onLogin() {
    if (this.data.loggingIn) return;
    this.setData({ loggingIn: true });
    try {
      const session = await client().login(); // my.getAuthCode, then POST /session
      this.setData({ loggedIn: true, userId: session.userId });
      await this.reload();
    } catch (err) {
      this.fail(err);
    } finally {
      this.setData({ loggingIn: false });
    }
  },

  async onLogout() {
    try {
      await client().logout();
    } catch (err) {
      // Offline: the server could not be told, but this device has forgotten the session.
    }
    this.setData(Object.assign({ loggedIn: false, userId: '' }, emptyList()));
  },

  /** The first page again, in place of everything shown. */
  async reload() {
    this.setData({ loading: true });
    try {
      const page = await todos().list({ order: 'desc', limit: config.pageSize });
      const rows = page.items.map(logic.toRow);
      this.setData({ todos: rows, left: logic.countLeft(rows), nextCursor: page.nextCursor, editingId: '' });
      await this.showPhotos();
    } catch (err) {
      this.fail(err);
    } finally {
      this.setData({ loading: false });
    }
  },

  async onLoadMore() {
    const cursor = this.data.nextCursor;
    if (!cursor || this.data.loading || this.data.loadingMore) return;
    this.setData({ loadingMore: true });
    try {
      const page = await todos().list({ order: 'desc', limit: config.pageSize, cursor });
      const rows = logic.appendRows(this.data.todos, page.items);
      this.setData({ todos: rows, left: logic.countLeft(rows), nextCursor: page.nextCursor });
      await this.showPhotos();
    } catch (err) {
      this.fail(err);
    } finally {
      this.setData({ loadingMore: false });
    }
  },

  onNewInput(e) {
    this.setData({ newTitle: e.detail.value });
  },

  async onAdd() {
    const title = logic.cleanTitle(this.data.newTitle);
    if (!title) {
      my.showToast({ type: 'none', content: 'Type a todo first' });
      return;
    }
    if (this.adding) return;
    this.adding = true;
    try {
      const item = await todos().add({ title, done: false });
      const rows = [logic.toRow(item)].concat(this.data.todos);
      this.setData({ todos: rows, left: logic.countLeft(rows), newTitle: '' });
    } catch (err) {
      this.fail(err);
    } finally {
      this.adding = false;
    }
  },

  onToggle(e) {
    const row = this.rowOf(e);
    if (!row) return undefined;
    return this.write(row, () => todos().update(row.id, { done: !row.done }, { ifMatch: row.version }));
  },

  onEditStart(e) {
    const row = this.rowOf(e);
    if (row) this.setData({ editingId: row.id, editTitle: row.title });
  },

  onEditInput(e) {
    this.setData({ editTitle: e.detail.value });
  },

  onEditCancel() {
    this.setData({ editingId: '', editTitle: '' });
  },

  /** On confirm and on blur: whichever comes first saves, the other finds nothing to do. */
  async onEditSave() {
    const row = this.data.todos.find((r) => r.id === this.data.editingId);
    if (!row) return;
    const title = logic.cleanTitle(this.data.editTitle);
    this.setData({ editingId: '', editTitle: '' });
    if (!title || title === row.title) return;
    await this.write(row, () => todos().update(row.id, { title }, { ifMatch: row.version }));
  },

  async onDelete(e) {
    const row = this.rowOf(e);
    if (!row || !(await confirm(`“${row.title}” will be gone for good.`))) return;
    await this.write(row, async () => {
      await todos().remove(row.id, { ifMatch: row.version });
      if (row.photo) client().files.remove(row.photo).catch(() => undefined);
      return null;
    });
  },

  /**
   * Deletes every completed todo, shown or not: the server finds them (`where done == true`),
   * then one `db.batch` deletes them all or none (one batch per 25), each at the version read.
   */
  async onClearCompleted() {
    if (this.clearing) return;
    this.clearing = true;
    try {
      const done = await todos().where('done', '==', true).all({ limit: 100 }).toArray();
      for (const ops of logic.clearBatches(config.collection, done)) await client().db.batch(ops);
      my.showToast({ type: 'success', content: `Cleared ${done.length} completed` });
      // The first page again: rows shown may have changed elsewhere too (un-completed, say).
      await this.reload();
    } catch (err) {
      this.fail(err);
      if (logic.needsReload(err) && this.data.loggedIn) await this.reload();
    } finally {
      this.clearing = false;
    }
  },

  /** Picks a photo, uploads it straight to storage and names it in the todo. */
  async onAttach(e) {
    const row = this.rowOf(e);
    if (!row) return;
    const picked = await pickPhoto();
    if (!picked) return;
    await this.write(row, async () => {
      const file = await client().files.upload({
        filePath: picked.filePath,
        name: picked.filePath.split('/').pop(),
        contentType: logic.imageType(picked.filePath),
        size: picked.size,
      });
      const item = await todos().update(row.id, { photo: file.id }, { ifMatch: row.version });
      // The replaced photo is of no use any more (best effort).
      if (row.photo) client().files.remove(row.photo).catch(() => undefined);
      return item;
    });
    await this.showPhotos();
  },

  onPreview(e) {
    const row = this.rowOf(e);
    if (row && row.photoUrl) my.previewImage({ urls: [row.photoUrl] });
  },

  /** Fetches the short-lived links of the rows' photos that have none yet. */
  async showPhotos() {
    const rows = this.data.todos;
    for (let i = 0; i < rows.length; i += 1) {
      if (!rows[i].photo || rows[i].photoUrl) continue;
      try {
        const url = await client().files.url(rows[i].photo);
        const at = this.data.todos.findIndex((r) => r.id === rows[i].id);
        if (at >= 0) this.setData({ [`todos[${at}].photoUrl`]: url });
      } catch (err) {
        // A photo still uploading, or deleted elsewhere: shown without it.
      }
    }
  },

  /** Sends one change of `row`; its answer (null: deleted) takes the row's place. */
  async write(row, send) {
    this.pending = this.pending || {};
    if (this.pending[row.id]) return; // a second tap while the first is on its way
    this.pending[row.id] = true;
    try {
      const item = await send();
      const rows = item
        ? logic.replaceRow(this.data.todos, item)
        : this.data.todos.filter((r) => r.id !== row.id);
      this.setData({ todos: rows, left: logic.countLeft(rows) });
    } catch (err) {
      this.fail(err);
      if (logic.needsReload(err) && this.data.loggedIn) await this.reload();
    } finally {
      delete this.pending[row.id];
    }
  },

  rowOf(e) {
    const id = e.currentTarget.dataset.id;
    return this.data.todos.find((r) => r.id === id);
  },

  /** Tells what went wrong; a session that ended brings back the login screen. */
  fail(err) {
    if (err instanceof LoggedOutError) {
      this.setData(Object.assign({ loggedIn: false, userId: '' }, emptyList()));
      my.showToast({ type: 'fail', content: 'Signed out: please log in again' });
      return;
    }
    my.showToast({ type: 'fail', content: logic.messageOf(err) });
  },
});
