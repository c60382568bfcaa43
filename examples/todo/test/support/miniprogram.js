// A small stand-in of the Alipay Mini Program runtime, enough to run the Todo app's real files in
// Node: `App`, `Page`, `getApp`, and a `my` whose `request` makes REAL HTTP calls (to `miniapp
// dev`), whose storage is in memory and whose UI calls (toast, confirm, pull-down) are recorded.
// Pages are instances of the file's `Page({...})` definition; `setData` merges like the runtime
// does (path keys such as `todos[0].done` included) and copies values as the runtime serialises them.
'use strict';

const http = require('node:http');
const path = require('node:path');

/** Methods `my.request` can send (not PATCH: the SDK must emulate it). */
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'];

function later(fn) {
  setImmediate(fn);
}

/** The `my` object: real network, memory storage, recorded UI. */
function createMy() {
  const storage = new Map();
  const my = {
    /** What `my.getAuthCode` hands out; null: the user refused. */
    authCode: null,
    /** What the user answers to `my.confirm`. */
    confirmAnswer: true,
    toasts: [],
    confirms: [],
    pullDownStops: 0,
    /** `{method, url, headers, body}` of every `my.request`. */
    requests: [],
    storage,

    getAuthCode(opts) {
      later(() => {
        if (my.authCode) opts.success && opts.success({ authCode: my.authCode });
        else opts.fail && opts.fail({ error: 11, errorMessage: 'the user cancelled' });
      });
    },

    request(opts) {
      const method = String(opts.method || 'GET').toUpperCase();
      const headers = opts.headers || {};
      const body = typeof opts.data === 'string' ? opts.data : opts.data == null ? undefined : JSON.stringify(opts.data);
      my.requests.push({ method, url: opts.url, headers, body });
      const fail = (res) => {
        if (opts.fail) opts.fail(res);
        if (opts.complete) opts.complete(res);
      };
      if (!METHODS.includes(method)) {
        later(() => fail({ error: 2, errorMessage: `method ${method} is not supported` }));
        return;
      }
      const req = http.request(opts.url, { method, headers, timeout: opts.timeout || 30000 }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const data = opts.dataType === 'text' ? text : parseOr(text);
          const answer = { status: res.statusCode, headers: res.headers, data };
          // The base library reports HTTP errors through fail, error 19, with the answer attached.
          if (res.statusCode >= 400) {
            fail(Object.assign({ error: 19, errorMessage: 'http status error' }, answer));
            return;
          }
          if (opts.success) opts.success(answer);
          if (opts.complete) opts.complete(answer);
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { timedOut: true })));
      req.on('error', (e) => fail({ error: e.timedOut ? 13 : 12, errorMessage: e.message }));
      if (body !== undefined) req.write(body);
      req.end();
    },

    getStorageSync({ key }) {
      return { data: storage.has(key) ? storage.get(key) : null };
    },
    setStorageSync({ key, data }) {
      storage.set(key, data);
    },
    removeStorageSync({ key }) {
      storage.delete(key);
    },

    /** What `my.chooseImage` picks: `{path, bytes}`, or null (the user cancels). */
    picked: null,
    /** `{url, filePath, fileName, fileType, formData}` of every `my.uploadFile`. */
    uploads: [],
    previews: [],

    chooseImage(opts) {
      later(() => {
        if (my.picked) opts.success({ apFilePaths: [my.picked.path] });
        else opts.fail({ error: 11, errorMessage: 'the user cancelled' });
      });
    },
    getFileInfo(opts) {
      later(() => opts.success({ size: my.picked.bytes.length }));
    },
    /** A real multipart POST of the picked file, as the base library sends it. */
    uploadFile(opts) {
      my.uploads.push({ url: opts.url, filePath: opts.filePath, fileName: opts.fileName, fileType: opts.fileType, formData: opts.formData });
      const form = new FormData();
      for (const [k, v] of Object.entries(opts.formData || {})) form.append(k, v);
      form.append(opts.fileName, new Blob([my.picked.bytes]), path.basename(opts.filePath));
      fetch(opts.url, { method: 'POST', body: form }).then(
        async (r) => opts.success({ statusCode: r.status, data: await r.text(), header: {} }),
        (e) => opts.fail({ error: 12, errorMessage: e.message }),
      );
    },
    previewImage(opts) {
      my.previews.push(opts.urls);
    },

    showToast(opts) {
      my.toasts.push(opts);
    },
    confirm(opts) {
      my.confirms.push(opts);
      later(() => opts.success && opts.success({ confirm: my.confirmAnswer }));
    },
    stopPullDownRefresh() {
      my.pullDownStops += 1;
    },

    /** The last toast's text, or ''. */
    lastToast() {
      const t = my.toasts[my.toasts.length - 1];
      return t ? t.content : '';
    },
  };
  return my;
}

function parseOr(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `todos[0].done` → ['todos', 0, 'done']. */
function pathKeys(key) {
  const keys = [];
  key.replace(/[^.[\]]+|\[(\d+)\]/g, (m, index) => {
    keys.push(index === undefined ? m : Number(index));
    return m;
  });
  return keys;
}

/** Values cross the runtime's boundary as JSON. */
function copy(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function setPath(target, key, value) {
  const keys = pathKeys(key);
  let node = target;
  for (let i = 0; i < keys.length - 1; i += 1) {
    if (node[keys[i]] == null) node[keys[i]] = typeof keys[i + 1] === 'number' ? [] : {};
    node = node[keys[i]];
  }
  node[keys[keys.length - 1]] = copy(value);
}

/** One instance of a `Page({...})` definition. */
function instantiate(definition) {
  const page = {};
  for (const [k, v] of Object.entries(definition)) {
    if (k !== 'data') page[k] = v;
  }
  page.data = copy(definition.data || {});
  page.setData = (patch, callback) => {
    for (const [k, v] of Object.entries(patch)) setPath(page.data, k, v);
    if (callback) callback();
  };
  return page;
}

/** An event as the runtime passes it to a handler bound in AXML (`data-*` → dataset). */
function event(dataset = {}, detail = {}) {
  return { type: 'tap', currentTarget: { dataset }, target: { dataset }, detail };
}

/** The Mini Program at `root`, with `config` values put over its config.js. */
class MiniProgram {
  constructor({ root, config = {} }) {
    this.root = root;
    this.my = createMy();
    this.pages = {};
    this.app = null;
    Object.assign(require(path.join(root, 'config.js')), config);
    globalThis.my = this.my;
    globalThis.App = (definition) => {
      this.app = Object.assign({}, definition);
    };
    globalThis.getApp = () => this.app;
    globalThis.Page = (definition) => {
      this.pages[this.loading] = definition;
    };
  }

  /** Starts the app (again: a new App, as after a restart; storage is kept). */
  launch() {
    const file = require.resolve(path.join(this.root, 'app.js'));
    delete require.cache[file];
    require(file);
    if (this.app.onLaunch) this.app.onLaunch({ query: {}, scene: 1001 });
    return this.app;
  }

  /** A new instance of the page at `route` (e.g. `pages/index/index`). */
  open(route) {
    if (!this.pages[route]) {
      this.loading = route;
      require(path.join(this.root, `${route}.js`));
      this.loading = null;
    }
    return instantiate(this.pages[route]);
  }
}

module.exports = { MiniProgram, event, pathKeys };
