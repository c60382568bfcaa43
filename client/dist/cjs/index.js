/*! @miniapp/client 0.1.0 | Apache-2.0 | includes @noble/hashes (MIT, Paul Miller) */
"use strict";
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __defNormalProp = (obj, key, value) => key in obj ? __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value }) : obj[key] = value;
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toCommonJS = (mod) => __copyProps(__defProp({}, "__esModule", { value: true }), mod);
var __publicField = (obj, key, value) => __defNormalProp(obj, typeof key !== "symbol" ? key + "" : key, value);

// src/index.ts
var index_exports = {};
__export(index_exports, {
  ALGORITHM: () => ALGORITHM,
  FileUploadError: () => FileUploadError,
  LoggedOutError: () => LoggedOutError,
  MiniappError: () => MiniappError,
  NetworkError: () => NetworkError,
  alipayStorage: () => alipayStorage,
  alipayTransport: () => alipayTransport,
  canonicalQuery: () => canonicalQuery,
  createClient: () => createClient,
  encodeRfc3986: () => encodeRfc3986,
  fetchTransport: () => fetchTransport,
  formatDate: () => formatDate,
  hmacSha256Hex: () => hmacSha256Hex,
  isMiniappError: () => isMiniappError,
  memoryStorage: () => memoryStorage,
  mergePatch: () => mergePatch,
  parseDate: () => parseDate,
  sha256Hex: () => sha256Hex,
  signRequest: () => signRequest,
  stringToSign: () => stringToSign,
  wechatStorage: () => wechatStorage,
  wechatTransport: () => wechatTransport
});
module.exports = __toCommonJS(index_exports);

// src/errors.ts
var MiniappError = class extends Error {
  constructor(init) {
    super(init.message);
    this.name = "MiniappError";
    this.code = init.code;
    this.status = init.status === void 0 ? 0 : init.status;
    if (init.requestId !== void 0) this.requestId = init.requestId;
    if (init.retryAfter !== void 0) this.retryAfter = init.retryAfter;
    if (init.index !== void 0) this.index = init.index;
  }
};
var LoggedOutError = class extends MiniappError {
  constructor(init) {
    super(init);
    this.name = "LoggedOutError";
  }
};
var NetworkError = class extends MiniappError {
  constructor(init) {
    super(init);
    this.name = "NetworkError";
  }
};
function isMiniappError(err, code) {
  return err instanceof MiniappError && (code === void 0 || err.code === code);
}

// src/db.ts
var COLLECTION = /^[A-Za-z0-9_-]{1,64}$/;
var ID = /^[A-Za-z0-9_.-]{1,128}$/;
var FIELD = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;
var MAX_MERGE_TRIES = 5;
function invalid(message) {
  return new MiniappError({ code: "InvalidArgument", message });
}
function checkId(id) {
  if (typeof id !== "string" || !ID.test(id) || id === "." || id === "..") {
    throw invalid(`item id ${JSON.stringify(id)} must match ^[A-Za-z0-9_.-]{1,128}$ and not be . or ..`);
  }
  return encodeURIComponent(id);
}
function isObject(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
function etag(ref) {
  if (ref === "*") return "*";
  const v = typeof ref === "number" ? ref : ref && ref.version;
  if (typeof v !== "number" || !isFinite(v)) throw invalid("ifMatch must be a version number, an item, or *");
  return `"${v}"`;
}
function mergePatch(target, patch) {
  if (!isObject(patch)) return patch;
  const out = Object.assign({}, isObject(target) ? target : {});
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}
function term(field, op, value) {
  if (!FIELD.test(field)) throw invalid(`bad where field ${field}`);
  return `${field} ${op} ${JSON.stringify(value)}`;
}
function preconditionFailed(message) {
  return new MiniappError({ code: "PreconditionFailed", status: 412, message });
}
var Items = class {
  constructor(list_, options_) {
    this.list_ = list_;
    this.options_ = options_;
    this.buffer_ = [];
    this.finished_ = false;
    /** next() calls run one after another. */
    this.chain_ = Promise.resolve();
    this.cursor_ = options_.cursor;
  }
  next() {
    const step = this.chain_.then(() => this.step_());
    this.chain_ = step.catch(() => void 0);
    return step;
  }
  async step_() {
    while (this.buffer_.length === 0 && !this.finished_) {
      const page = await this.list_(Object.assign({}, this.options_, { cursor: this.cursor_ }));
      this.buffer_ = page.items;
      if (page.nextCursor === null) this.finished_ = true;
      else this.cursor_ = page.nextCursor;
    }
    const item = this.buffer_.shift();
    return item === void 0 ? { done: true, value: void 0 } : { done: false, value: item };
  }
  return() {
    this.finished_ = true;
    this.buffer_ = [];
    return Promise.resolve({ done: true, value: void 0 });
  }
  [Symbol.asyncIterator]() {
    return this;
  }
  async forEach(fn) {
    for (; ; ) {
      const r = await this.next();
      if (r.done) return;
      await fn(r.value);
    }
  }
  async toArray() {
    const all = [];
    await this.forEach((item) => {
      all.push(item);
    });
    return all;
  }
};
var ItemCollection = class _ItemCollection {
  constructor(name, send_, patchMode_, where_) {
    this.name = name;
    this.send_ = send_;
    this.patchMode_ = patchMode_;
    this.where_ = where_;
    if (typeof name !== "string" || !COLLECTION.test(name)) {
      throw invalid(`collection ${JSON.stringify(name)} must match ^[A-Za-z0-9_-]{1,64}$`);
    }
    this.base_ = `/db/${encodeURIComponent(name)}`;
  }
  data_(value, what) {
    if (!isObject(value)) throw invalid(`${what} must be a JSON object`);
    return value;
  }
  async add(data) {
    const res = await this.send_("POST", this.base_, { body: this.data_(data, "data") });
    return res.data;
  }
  async get(id) {
    const res = await this.send_("GET", `${this.base_}/${checkId(id)}`);
    return res.data;
  }
  async set(id, data, options = {}) {
    const headers = {};
    if (options.ifMatch !== void 0) headers["if-match"] = etag(options.ifMatch);
    if (options.ifNoneMatch !== void 0) {
      if (options.ifNoneMatch !== "*") throw invalid("ifNoneMatch must be '*'");
      headers["if-none-match"] = "*";
    }
    const res = await this.send_("PUT", `${this.base_}/${checkId(id)}`, { body: this.data_(data, "data"), headers });
    return res.data;
  }
  async update(id, patch, options = {}) {
    const path = `${this.base_}/${checkId(id)}`;
    this.data_(patch, "patch");
    if (this.patchMode_ === "native") {
      const headers = {};
      if (options.ifMatch !== void 0) headers["if-match"] = etag(options.ifMatch);
      const res = await this.send_("PATCH", path, { body: patch, headers });
      return res.data;
    }
    return this.emulatedUpdate_(id, patch, options);
  }
  /** GET, merge locally, PUT with If-Match of the version read; again when a writer raced us. */
  async emulatedUpdate_(id, patch, options) {
    const wanted = options.ifMatch === void 0 ? void 0 : etag(options.ifMatch);
    for (let i = 0; i < MAX_MERGE_TRIES; i++) {
      let current;
      try {
        current = await this.get(id);
      } catch (err) {
        if (wanted !== void 0 && isMiniappError(err, "NotFound")) {
          throw preconditionFailed(`item ${id} does not exist`);
        }
        throw err;
      }
      if (wanted !== void 0 && wanted !== "*" && wanted !== `"${current.version}"`) {
        throw preconditionFailed(`item ${id} is at version ${current.version}, not ${wanted}`);
      }
      const merged = mergePatch(current.data, patch);
      try {
        return await this.set(id, merged, { ifMatch: current.version });
      } catch (err) {
        if (wanted === void 0 && isMiniappError(err, "PreconditionFailed")) continue;
        throw err;
      }
    }
    throw preconditionFailed(`item ${id} kept changing: ${MAX_MERGE_TRIES} updates lost the race`);
  }
  async remove(id, options = {}) {
    const headers = {};
    if (options.ifMatch !== void 0) headers["if-match"] = etag(options.ifMatch);
    await this.send_("DELETE", `${this.base_}/${checkId(id)}`, { headers });
  }
  async list(options = {}) {
    const res = await this.send_("GET", this.base_, {
      query: { limit: options.limit, prefix: options.prefix, order: options.order, cursor: options.cursor, where: this.where_ }
    });
    return res.data;
  }
  where(field, op, value) {
    const t = term(field, op, value);
    return new _ItemCollection(this.name, this.send_, this.patchMode_, this.where_ ? `${this.where_} AND ${t}` : t);
  }
  all(options = {}) {
    return new Items((o) => this.list(o), options);
  }
  [Symbol.asyncIterator]() {
    return this.all();
  }
};
function createDb(send, patchMode) {
  return {
    collection(name) {
      return new ItemCollection(name, send, patchMode);
    },
    async batch(operations) {
      const body = operations.map(
        (o) => o.op === "create" || o.ifMatch === void 0 ? o : Object.assign({}, o, { ifMatch: etag(o.ifMatch) })
      );
      const res = await send("POST", "/db", { body: { operations: body } });
      return res.data.results;
    },
    async collections() {
      const all = [];
      let cursor;
      do {
        const page = (await send("GET", "/db", { query: { cursor } })).data;
        all.push(...page.collections);
        cursor = page.nextCursor || void 0;
      } while (cursor);
      return all;
    }
  };
}

// src/transport.ts
function alipayApi() {
  return typeof my !== "undefined" && my ? my : void 0;
}
function wechatApi() {
  return typeof wx !== "undefined" && wx ? wx : void 0;
}
function globalFetch() {
  return typeof fetch !== "undefined" ? fetch : void 0;
}
function networkError(message, timeout) {
  return new NetworkError({ code: timeout ? "Timeout" : "NetworkError", message, status: 0 });
}
function alipayTransport(api = alipayApi()) {
  return (req) => new Promise((resolve, reject) => {
    if (!api || typeof api.request !== "function") {
      reject(new MiniappError({ code: "Unsupported", message: "my.request is not available" }));
      return;
    }
    api.request({
      url: req.url,
      method: req.method,
      headers: req.headers,
      data: req.body,
      // Text: the client parses JSON itself; `data` may still arrive parsed on old base libraries.
      dataType: "text",
      timeout: req.timeoutMs,
      success: (res) => resolve({ status: res.status, headers: res.headers || {}, body: res.data }),
      fail: (res) => {
        if (res && typeof res.status === "number" && res.status >= 100 && (res.data !== void 0 || res.headers)) {
          resolve({ status: res.status, headers: res.headers || {}, body: res.data });
          return;
        }
        const code = res && res.error;
        const text = res && (res.errorMessage || res.errMsg) || "request failed";
        reject(networkError(`my.request failed (error ${code}): ${text}`, code === 13));
      }
    });
  });
}
function wechatTransport(api = wechatApi()) {
  return (req) => new Promise((resolve, reject) => {
    if (!api || typeof api.request !== "function") {
      reject(new MiniappError({ code: "Unsupported", message: "wx.request is not available" }));
      return;
    }
    api.request({
      url: req.url,
      method: req.method,
      header: req.headers,
      data: req.body,
      // Anything but 'json' turns WeChat's own JSON.parse off.
      dataType: "text",
      responseType: "text",
      timeout: req.timeoutMs,
      success: (res) => resolve({ status: res.statusCode, headers: res.header || {}, body: res.data }),
      fail: (res) => {
        const text = res && res.errMsg || "request:fail";
        reject(networkError(`wx.request failed: ${text}`, /timeout/i.test(text)));
      }
    });
  });
}
function fetchTransport(fetchImpl = globalFetch()) {
  return async (req) => {
    if (typeof fetchImpl !== "function") {
      throw new MiniappError({ code: "Unsupported", message: "fetch is not available" });
    }
    const controller = typeof AbortController !== "undefined" ? new AbortController() : void 0;
    let timedOut = false;
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        if (controller) controller.abort();
        reject(networkError(`no answer within ${req.timeoutMs} ms`, true));
      }, req.timeoutMs);
    });
    const exchange = (async () => {
      const res = await fetchImpl(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal: controller && controller.signal
      });
      const body = await res.text();
      const headers = {};
      res.headers.forEach((value, name) => {
        headers[name] = value;
      });
      return { status: res.status, headers, body };
    })();
    try {
      return await Promise.race([exchange, timeout]);
    } catch (err) {
      if (err instanceof MiniappError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw networkError(`fetch failed: ${message}`, timedOut);
    } finally {
      clearTimeout(timer);
      exchange.catch(() => void 0);
      timeout.catch(() => void 0);
    }
  };
}
function resolveTransport(option) {
  if (typeof option === "function") return { name: "custom", send: option };
  const name = option || (alipayApi() ? "alipay" : wechatApi() ? "wechat" : "fetch");
  if (name === "alipay") return { name, send: alipayTransport() };
  if (name === "wechat") return { name, send: wechatTransport() };
  if (name === "fetch") return { name, send: fetchTransport() };
  throw new MiniappError({ code: "InvalidArgument", message: `unknown transport ${String(name)}` });
}

// src/files.ts
var FileUploadError = class extends MiniappError {
  constructor(status, body) {
    const text = typeof body === "string" ? body : "";
    const tag = (name) => (new RegExp(`<${name}>([^<]*)</${name}>`).exec(text) || [])[1];
    super({ code: tag("Code") || "UploadFailed", message: tag("Message") || `upload answered ${status}`, status });
    this.name = "FileUploadError";
  }
};
function checkId2(id) {
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new MiniappError({ code: "InvalidArgument", message: `not a file id: ${id}` });
  return id;
}
function alipayType(contentType) {
  const main = contentType.split("/")[0];
  return main === "video" || main === "audio" ? main : "image";
}
function platformUpload(name, url, fields, field, src) {
  return new Promise((resolve, reject) => {
    const fail = (res) => reject(new NetworkError({ code: "NetworkError", message: `upload failed: ${res && (res.errorMessage || res.errMsg) || "error"}`, status: 0 }));
    const done = (res) => resolve([res.statusCode || res.status, res.data]);
    if (name === "alipay") {
      alipayApi().uploadFile({ url, filePath: src.filePath, fileName: field, fileType: alipayType(src.contentType), formData: fields, success: done, fail });
    } else {
      wechatApi().uploadFile({ url, filePath: src.filePath, name: field, formData: fields, success: done, fail });
    }
  });
}
async function fetchUpload(url, fields, field, src) {
  const form = new FormData();
  for (const k of Object.keys(fields)) form.append(k, fields[k]);
  form.append(field, src.blob, src.name);
  try {
    const res = await fetch(url, { method: "POST", body: form });
    return [res.status, await res.text()];
  } catch (err) {
    throw new NetworkError({ code: "NetworkError", message: `upload failed: ${err instanceof Error ? err.message : String(err)}`, status: 0 });
  }
}
function createFiles(send, baseUrl, transport) {
  const absolute = (url) => url.charAt(0) === "/" ? baseUrl + url : url;
  const get = async (id) => (await send("GET", `/files/${checkId2(id)}`)).data;
  return {
    async upload(src) {
      const size = src.size !== void 0 ? src.size : src.blob && src.blob.size;
      const created = (await send("POST", "/files", { body: { name: src.name, contentType: src.contentType, size } })).data;
      const up = created.upload;
      const [status, body] = src.filePath ? await platformUpload(transport, absolute(up.url), up.fields, up.fileField, src) : await fetchUpload(absolute(up.url), up.fields, up.fileField, src);
      if (status < 200 || status > 299) throw new FileUploadError(status, body);
      return get(created.id);
    },
    get,
    async url(id) {
      const info = await get(id);
      if (!info.url) throw new MiniappError({ code: "FileNotReady", message: `file ${id} is ${info.status}` });
      return absolute(info.url);
    },
    async remove(id) {
      await send("DELETE", `/files/${checkId2(id)}`);
    },
    async list(options = {}) {
      const page = (await send("GET", "/files", { query: { limit: options.limit, cursor: options.cursor } })).data;
      for (const f of page.items) if (f.url) f.url = absolute(f.url);
      return page;
    }
  };
}

// node_modules/@noble/hashes/utils.js
function isBytes(a) {
  return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array" && "BYTES_PER_ELEMENT" in a && a.BYTES_PER_ELEMENT === 1;
}
var atitle = (title) => title ? `"${title}" ` : "";
function anumber(n, title = "") {
  if (typeof n !== "number")
    throw new TypeError(atitle(title) + "expected number, got " + typeof n);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(atitle(title) + "expected integer >= 0, got " + n);
  return n;
}
function abytes(value, length, title = "") {
  if (isBytes(value) && (length === void 0 || value.length === length))
    return value;
  if (length !== void 0)
    anumber(length, "length");
  const bytes = isBytes(value);
  const ofLen = length !== void 0 ? ` of length ${length}` : "";
  const got = bytes ? `length=${value.length}` : `type=${typeof value}`;
  const message = atitle(title) + "expected Uint8Array" + ofLen + ", got " + got;
  if (!bytes)
    throw new TypeError(message);
  throw new RangeError(message);
}
function ahash(h) {
  if (typeof h !== "function" || typeof h.create !== "function")
    throw new TypeError("expected hash wrapped by utils.createHasher");
  anumber(h.outputLen);
  anumber(h.blockLen);
  if (h.outputLen < 1 || h.blockLen < 1)
    throw new Error("hash blockLen / outputLen must be >= 1");
}
var aobject = (value, label) => {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new TypeError((label === "object" ? "" : `"${label}" `) + "expected object, got type=" + typeof value);
};
var aopts = (value, label) => {
  aobject(value, label);
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null)
    throw new TypeError(`"${label}" expected plain object`);
  if (Object.hasOwn(value, "__proto__"))
    throw new TypeError(`"${label}.__proto__" is not allowed`);
};
function aexists(instance, checkFinished = true) {
  if (instance.destroyed)
    throw new Error("hash was destroyed");
  if (checkFinished && instance.finished)
    throw new Error("digest() was already called");
}
function aoutput(out, instance) {
  abytes(out, void 0, "output");
  const min = instance.outputLen;
  if (!(out.length >= min)) {
    throw new RangeError('"output" expected length >= ' + min);
  }
}
function clean(...arrays) {
  for (let i = 0; i < arrays.length; i++) {
    arrays[i].fill(0);
  }
}
function createView(arr) {
  return new DataView(arr.buffer, arr.byteOffset, arr.byteLength);
}
function rotr(word, shift) {
  return word << 32 - shift | word >>> shift;
}
var hasHexBuiltin = /* @__PURE__ */ (() => (
  // @ts-ignore
  typeof Uint8Array.from([]).toHex === "function" && typeof Uint8Array.fromHex === "function"
))();
var hexes = /* @__PURE__ */ Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
function bytesToHex(bytes) {
  abytes(bytes);
  if (hasHexBuiltin)
    return bytes.toHex();
  let hex = "";
  for (let i = 0; i < bytes.length; i++) {
    hex += hexes[bytes[i]];
  }
  return hex;
}
function checkOpts(defaults, opts, title = "opts") {
  aopts(defaults, "defaults");
  if (opts !== void 0)
    aopts(opts, title);
  const merged = Object.assign(/* @__PURE__ */ Object.create(null), defaults, opts);
  return merged;
}
function createHasher(hashCons, info = {}) {
  if (typeof hashCons !== "function")
    throw new TypeError('"hashCons" expected function, got type=' + typeof hashCons);
  info = checkOpts({}, info, "info");
  const hashC = (msg, opts) => hashCons(opts).update(msg).digest();
  const tmp = hashCons(void 0);
  hashC.outputLen = tmp.outputLen;
  hashC.blockLen = tmp.blockLen;
  hashC.canXOF = tmp.canXOF;
  hashC.create = (opts) => hashCons(opts);
  Object.assign(hashC, info);
  return Object.freeze(hashC);
}
var oidNist = (suffix) => ({
  // Current NIST hashAlgs suffixes used here fit in one DER subidentifier octet.
  // Larger suffix values would need base-128 OID encoding and a different length byte.
  oid: Uint8Array.from([6, 9, 96, 134, 72, 1, 101, 3, 4, 2, suffix])
});

// node_modules/@noble/hashes/hmac.js
var _HMAC = class {
  constructor(hash, key) {
    __publicField(this, "oHash");
    __publicField(this, "iHash");
    __publicField(this, "blockLen");
    __publicField(this, "outputLen");
    __publicField(this, "canXOF", false);
    __publicField(this, "finished", false);
    __publicField(this, "destroyed", false);
    ahash(hash);
    abytes(key, void 0, "key");
    this.iHash = hash.create();
    if (typeof this.iHash.update !== "function")
      throw new Error("expected Hash instance");
    this.blockLen = this.iHash.blockLen;
    this.outputLen = this.iHash.outputLen;
    const blockLen = this.blockLen;
    const pad = new Uint8Array(blockLen);
    pad.set(key.length > blockLen ? hash.create().update(key).digest() : key);
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54;
    this.iHash.update(pad);
    this.oHash = hash.create();
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54 ^ 92;
    this.oHash.update(pad);
    clean(pad);
  }
  update(buf) {
    aexists(this);
    this.iHash.update(buf);
    return this;
  }
  digestInto(out) {
    aexists(this);
    aoutput(out, this);
    this.finished = true;
    const buf = out.subarray(0, this.outputLen);
    this.iHash.digestInto(buf);
    this.oHash.update(buf);
    this.oHash.digestInto(buf);
    this.destroy();
  }
  digest() {
    const out = new Uint8Array(this.oHash.outputLen);
    this.digestInto(out);
    return out;
  }
  _cloneInto(to) {
    to || (to = Object.create(Object.getPrototypeOf(this), {}));
    const { oHash, iHash, finished, destroyed, blockLen, outputLen, canXOF } = this;
    to = to;
    to.finished = finished;
    to.destroyed = destroyed;
    to.blockLen = blockLen;
    to.outputLen = outputLen;
    to.canXOF = canXOF;
    to.oHash = oHash._cloneInto(to.oHash);
    to.iHash = iHash._cloneInto(to.iHash);
    return to;
  }
  clone() {
    return this._cloneInto();
  }
  destroy() {
    this.destroyed = true;
    this.oHash.destroy();
    this.iHash.destroy();
  }
};
var hmac = /* @__PURE__ */ (() => {
  const hmac_ = ((hash, key, message) => new _HMAC(hash, key).update(message).digest());
  hmac_.create = (hash, key) => new _HMAC(hash, key);
  return hmac_;
})();

// node_modules/@noble/hashes/_u64.js
var fromNumH = (n) => n / 2 ** 32 | 0;
var fromNumL = (n) => n >>> 0;
function setU64FromNum(view, byteOffset, n, isLE) {
  const h = fromNumH(n);
  const l = fromNumL(n);
  view.setUint32(byteOffset, isLE ? l : h, isLE);
  view.setUint32(byteOffset + 4, isLE ? h : l, isLE);
}

// node_modules/@noble/hashes/_md.js
function Chi(a, b, c) {
  return a & b ^ ~a & c;
}
function Maj(a, b, c) {
  return a & b ^ a & c ^ b & c;
}
var HashMD = class {
  constructor(blockLen, outputLen, padOffset, isLE) {
    __publicField(this, "blockLen");
    __publicField(this, "outputLen");
    __publicField(this, "canXOF", false);
    __publicField(this, "padOffset");
    __publicField(this, "isLE");
    // For partial updates less than block size
    __publicField(this, "buffer");
    __publicField(this, "view");
    __publicField(this, "finished", false);
    __publicField(this, "length", 0);
    __publicField(this, "pos", 0);
    __publicField(this, "destroyed", false);
    this.blockLen = blockLen;
    this.outputLen = outputLen;
    this.padOffset = padOffset;
    this.isLE = isLE;
    this.buffer = new Uint8Array(blockLen);
    this.view = createView(this.buffer);
  }
  update(data) {
    aexists(this);
    abytes(data);
    const { view, buffer, blockLen } = this;
    const len = data.length;
    let processed = false;
    for (let pos = 0; pos < len; ) {
      const take = Math.min(blockLen - this.pos, len - pos);
      if (take === blockLen) {
        const dataView = createView(data);
        for (; blockLen <= len - pos; pos += blockLen)
          this.process(dataView, pos);
        processed = true;
        continue;
      }
      buffer.set(pos === 0 && take === len ? data : data.subarray(pos, pos + take), this.pos);
      this.pos += take;
      pos += take;
      if (this.pos === blockLen) {
        this.process(view, 0);
        this.pos = 0;
        processed = true;
      }
    }
    this.length += data.length;
    if (processed)
      this.roundClean();
    return this;
  }
  digestInto(out) {
    aexists(this);
    aoutput(out, this);
    this.finished = true;
    const { buffer, view, blockLen, isLE } = this;
    let { pos } = this;
    buffer[pos++] = 128;
    buffer.fill(0, pos);
    if (this.padOffset > blockLen - pos) {
      this.process(view, 0);
      buffer.fill(0);
    }
    setU64FromNum(view, blockLen - 8, this.length * 8, isLE);
    this.process(view, 0);
    this.roundClean();
    const oview = out === buffer ? view : createView(out);
    const len = this.outputLen;
    const outLen = len / 4;
    const state = this.get();
    if (len % 4 || outLen > state.length)
      throw new Error("invalid outputLen");
    for (let i = 0; i < outLen; i++)
      oview.setUint32(4 * i, state[i], isLE);
  }
  digest() {
    const { buffer, outputLen } = this;
    this.digestInto(buffer);
    const res = buffer.slice(0, outputLen);
    this.destroy();
    return res;
  }
  _cloneIntoMeta(to) {
    const { buffer, length, finished, destroyed, pos } = this;
    to.destroyed = destroyed;
    to.finished = finished;
    to.length = length;
    to.pos = pos;
    if (pos)
      to.buffer.set(buffer);
    return to;
  }
  clone() {
    return this._cloneInto();
  }
};
var SHA256_IV = /* @__PURE__ */ Uint32Array.from([
  1779033703,
  3144134277,
  1013904242,
  2773480762,
  1359893119,
  2600822924,
  528734635,
  1541459225
]);

// node_modules/@noble/hashes/sha2.js
var SHA256_K = /* @__PURE__ */ Uint32Array.from([
  1116352408,
  1899447441,
  3049323471,
  3921009573,
  961987163,
  1508970993,
  2453635748,
  2870763221,
  3624381080,
  310598401,
  607225278,
  1426881987,
  1925078388,
  2162078206,
  2614888103,
  3248222580,
  3835390401,
  4022224774,
  264347078,
  604807628,
  770255983,
  1249150122,
  1555081692,
  1996064986,
  2554220882,
  2821834349,
  2952996808,
  3210313671,
  3336571891,
  3584528711,
  113926993,
  338241895,
  666307205,
  773529912,
  1294757372,
  1396182291,
  1695183700,
  1986661051,
  2177026350,
  2456956037,
  2730485921,
  2820302411,
  3259730800,
  3345764771,
  3516065817,
  3600352804,
  4094571909,
  275423344,
  430227734,
  506948616,
  659060556,
  883997877,
  958139571,
  1322822218,
  1537002063,
  1747873779,
  1955562222,
  2024104815,
  2227730452,
  2361852424,
  2428436474,
  2756734187,
  3204031479,
  3329325298
]);
var SHA256_W = /* @__PURE__ */ new Uint32Array(64);
var SHA2_32B = class extends HashMD {
  constructor(outputLen, IV) {
    super(64, outputLen, 8, false);
    // We cannot use array here since array allows indexing by variable
    // which means optimizer/compiler cannot use registers.
    // Numeric initializers matter: starting the fields as `undefined` changes
    // V8's field representation and makes sha256 3x slower (measured).
    __publicField(this, "A", 0);
    __publicField(this, "B", 0);
    __publicField(this, "C", 0);
    __publicField(this, "D", 0);
    __publicField(this, "E", 0);
    __publicField(this, "F", 0);
    __publicField(this, "G", 0);
    __publicField(this, "H", 0);
    this.A = IV[0] | 0;
    this.B = IV[1] | 0;
    this.C = IV[2] | 0;
    this.D = IV[3] | 0;
    this.E = IV[4] | 0;
    this.F = IV[5] | 0;
    this.G = IV[6] | 0;
    this.H = IV[7] | 0;
  }
  get() {
    const { A, B, C, D, E, F, G, H } = this;
    return [A, B, C, D, E, F, G, H];
  }
  // prettier-ignore
  set(A, B, C, D, E, F, G, H) {
    this.A = A | 0;
    this.B = B | 0;
    this.C = C | 0;
    this.D = D | 0;
    this.E = E | 0;
    this.F = F | 0;
    this.G = G | 0;
    this.H = H | 0;
  }
  _cloneInto(to) {
    (to || (to = new this.constructor())).set(...this.get());
    return this._cloneIntoMeta(to);
  }
  process(view, offset) {
    for (let i = 0; i < 16; i++, offset += 4)
      SHA256_W[i] = view.getUint32(offset, false);
    for (let i = 16; i < 64; i++) {
      const W15 = SHA256_W[i - 15];
      const W2 = SHA256_W[i - 2];
      const s0 = rotr(W15, 7) ^ rotr(W15, 18) ^ W15 >>> 3;
      const s1 = rotr(W2, 17) ^ rotr(W2, 19) ^ W2 >>> 10;
      SHA256_W[i] = s1 + SHA256_W[i - 7] + s0 + SHA256_W[i - 16] | 0;
    }
    let { A, B, C, D, E, F, G, H } = this;
    for (let i = 0; i < 64; i++) {
      const sigma1 = rotr(E, 6) ^ rotr(E, 11) ^ rotr(E, 25);
      const T1 = H + sigma1 + Chi(E, F, G) + SHA256_K[i] + SHA256_W[i] | 0;
      const sigma0 = rotr(A, 2) ^ rotr(A, 13) ^ rotr(A, 22);
      const T2 = sigma0 + Maj(A, B, C) | 0;
      H = G;
      G = F;
      F = E;
      E = D + T1 | 0;
      D = C;
      C = B;
      B = A;
      A = T1 + T2 | 0;
    }
    A = A + this.A | 0;
    B = B + this.B | 0;
    C = C + this.C | 0;
    D = D + this.D | 0;
    E = E + this.E | 0;
    F = F + this.F | 0;
    G = G + this.G | 0;
    H = H + this.H | 0;
    this.set(A, B, C, D, E, F, G, H);
  }
  roundClean() {
    clean(SHA256_W);
  }
  destroy() {
    this.destroyed = true;
    this.set(0, 0, 0, 0, 0, 0, 0, 0);
    clean(this.buffer);
  }
};
var _SHA256 = class extends SHA2_32B {
  constructor() {
    super(32, SHA256_IV);
  }
};
var sha256 = /* @__PURE__ */ createHasher(
  () => new _SHA256(),
  /* @__PURE__ */ oidNist(1)
);

// src/utf8.ts
function utf8Encode(s) {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 55296 && c <= 56319 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 56320 && d <= 57343) {
        c = 65536 + (c - 55296 << 10) + (d - 56320);
        i++;
      }
    }
    if (c >= 55296 && c <= 57343) c = 65533;
    if (c < 128) out.push(c);
    else if (c < 2048) out.push(192 | c >> 6, 128 | c & 63);
    else if (c < 65536) out.push(224 | c >> 12, 128 | c >> 6 & 63, 128 | c & 63);
    else out.push(240 | c >> 18, 128 | c >> 12 & 63, 128 | c >> 6 & 63, 128 | c & 63);
  }
  return new Uint8Array(out);
}
function isUtf8(b) {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 128) {
      i++;
      continue;
    }
    let n;
    let min;
    let cp;
    if (c >= 194 && c <= 223) {
      n = 1;
      min = 128;
      cp = c & 31;
    } else if (c >= 224 && c <= 239) {
      n = 2;
      min = 2048;
      cp = c & 15;
    } else if (c >= 240 && c <= 244) {
      n = 3;
      min = 65536;
      cp = c & 7;
    } else {
      return false;
    }
    if (i + n >= b.length) return false;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if ((d & 192) !== 128) return false;
      cp = cp << 6 | d & 63;
    }
    if (cp < min || cp > 1114111 || cp >= 55296 && cp <= 57343) return false;
    i += n + 1;
  }
  return true;
}

// src/signing.ts
var ALGORITHM = "MINIAPP-HMAC-SHA256";
var HEX = "0123456789ABCDEF";
function isUnreserved(b) {
  return b >= 65 && b <= 90 || // A-Z
  b >= 97 && b <= 122 || // a-z
  b >= 48 && b <= 57 || // 0-9
  b === 45 || b === 46 || b === 95 || b === 126;
}
function encodeBytes(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    out += isUnreserved(b) ? String.fromCharCode(b) : "%" + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}
function encodeRfc3986(s) {
  return encodeBytes(utf8Encode(s));
}
function hexVal(b) {
  if (b >= 48 && b <= 57) return b - 48;
  if (b >= 65 && b <= 70) return b - 65 + 10;
  if (b >= 97 && b <= 102) return b - 97 + 10;
  return -1;
}
function invalidQuery(piece, why) {
  return new MiniappError({
    code: "InvalidQuery",
    message: `query piece ${JSON.stringify(piece.slice(0, 64))} ${why}`
  });
}
function percentDecode(piece) {
  const bytes = utf8Encode(piece);
  const out = [];
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 37) {
      out.push(bytes[i]);
      continue;
    }
    const hi = i + 1 < bytes.length ? hexVal(bytes[i + 1]) : -1;
    const lo = i + 2 < bytes.length ? hexVal(bytes[i + 2]) : -1;
    if (hi < 0 || lo < 0) throw invalidQuery(piece, "has a malformed percent-escape");
    out.push(hi << 4 | lo);
    i += 2;
  }
  const decoded = new Uint8Array(out);
  if (!isUtf8(decoded)) throw invalidQuery(piece, "does not decode to UTF-8");
  return decoded;
}
function canonicalQuery(raw) {
  const pairs = [];
  for (const piece of raw.split("&")) {
    if (piece === "") continue;
    const eq = piece.indexOf("=");
    const k = eq < 0 ? piece : piece.slice(0, eq);
    const v = eq < 0 ? "" : piece.slice(eq + 1);
    pairs.push([encodeBytes(percentDecode(k)), encodeBytes(percentDecode(v))]);
  }
  pairs.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
  return pairs.map((p) => p[0] + "=" + p[1]).join("&");
}
function bytesOf(data) {
  return typeof data === "string" ? utf8Encode(data) : data;
}
function sha256Hex(data) {
  return bytesToHex(sha256(bytesOf(data)));
}
function hmacSha256Hex(key, message) {
  return bytesToHex(hmac(sha256, utf8Encode(key), bytesOf(message)));
}
function formatDate(ms) {
  const iso = new Date(Math.floor(ms / 1e3) * 1e3).toISOString();
  return iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 13) + iso.slice(14, 16) + iso.slice(17, 19) + "Z";
}
function parseDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return NaN;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}
function stringToSign(date, method, path, canonical, body) {
  return [ALGORITHM, date, method, path, canonical, sha256Hex(body)].join("\n");
}
function signRequest(creds, req) {
  const sts = stringToSign(
    req.date,
    req.method,
    req.path,
    canonicalQuery(req.query === void 0 ? "" : req.query),
    req.body === void 0 ? "" : req.body
  );
  const signature = hmacSha256Hex(creds.accessKeySecret, sts);
  return {
    authorization: `${ALGORITHM} Credential=${creds.accessKeyId}, Signature=${signature}`,
    "x-miniapp-date": req.date,
    "x-miniapp-security-token": creds.securityToken
  };
}

// src/storage.ts
function memoryStorage() {
  const map = {};
  return {
    get: (key) => Object.prototype.hasOwnProperty.call(map, key) ? map[key] : null,
    set: (key, value) => {
      map[key] = value;
    },
    remove: (key) => {
      delete map[key];
    }
  };
}
function alipayStorage(api = alipayApi()) {
  return {
    get: (key) => {
      const res = api.getStorageSync({ key });
      return res && typeof res.data === "string" ? res.data : null;
    },
    set: (key, value) => {
      api.setStorageSync({ key, data: value });
    },
    remove: (key) => {
      api.removeStorageSync({ key });
    }
  };
}
function wechatStorage(api = wechatApi()) {
  return {
    get: (key) => {
      const v = api.getStorageSync(key);
      return typeof v === "string" && v !== "" ? v : null;
    },
    set: (key, value) => {
      api.setStorageSync(key, value);
    },
    remove: (key) => {
      api.removeStorageSync(key);
    }
  };
}
function browserStorage() {
  try {
    if (typeof localStorage === "undefined" || !localStorage) return void 0;
    const ls = localStorage;
    return {
      get: (key) => ls.getItem(key),
      set: (key, value) => ls.setItem(key, value),
      remove: (key) => ls.removeItem(key)
    };
  } catch (e) {
    return void 0;
  }
}
function defaultStorage() {
  const my2 = alipayApi();
  if (my2 && typeof my2.getStorageSync === "function") return alipayStorage(my2);
  const wx2 = wechatApi();
  if (wx2 && typeof wx2.getStorageSync === "function") return wechatStorage(wx2);
  return browserStorage() || memoryStorage();
}

// src/client.ts
var RETRY_STATUSES = [429, 503, 504];
var LOGGED_OUT_CODES = ["SessionExpired", "SessionRevoked"];
var DEFAULTS = { attempts: 3, baseDelayMs: 200, maxDelayMs: 2e3, maxRetryAfterMs: 1e4 };
function sleep(ms) {
  return new Promise((resolve) => {
    setTimeout(resolve, ms);
  });
}
async function stored(fn) {
  try {
    return await fn();
  } catch (err) {
    throw new MiniappError({
      code: "StorageError",
      message: `storage failed: ${err instanceof Error ? err.message : String(err)}`
    });
  }
}
function lowerHeaders(raw) {
  const out = {};
  if (!raw) return out;
  for (const name of Object.keys(raw)) {
    const v = raw[name];
    if (v === void 0 || v === null) continue;
    out[name.toLowerCase()] = Array.isArray(v) ? v.join(", ") : String(v);
  }
  return out;
}
function parseRetryAfter(value, nowMs) {
  if (!value) return void 0;
  if (/^\s*\d+\s*$/.test(value)) return parseInt(value, 10);
  const at = Date.parse(value);
  return isNaN(at) ? void 0 : Math.max(0, Math.ceil((at - nowMs) / 1e3));
}
function stateOf(s) {
  return {
    sessionId: s.sessionId,
    userId: s.userId,
    expiresAt: s.expiresAt,
    credentialsExpireAt: s.credentials.expiration
  };
}
function isSessionResponse(v) {
  const s = v;
  return !!s && typeof s.sessionId === "string" && typeof s.userId === "string" && typeof s.expiresAt === "string" && !!s.credentials && typeof s.credentials.accessKeyId === "string" && typeof s.credentials.accessKeySecret === "string" && typeof s.credentials.securityToken === "string" && typeof s.credentials.expiration === "string";
}
function resolveProvider(option) {
  if (option !== void 0) {
    if (option !== "alipay" && option !== "wechat") {
      throw new MiniappError({ code: "InvalidArgument", message: "provider must be 'alipay' or 'wechat'" });
    }
    return option;
  }
  return !alipayApi() && wechatApi() ? "wechat" : "alipay";
}
var Client = class {
  constructor(options_) {
    this.options_ = options_;
    this.offsetMs_ = 0;
    this.loading_ = null;
    this.refreshing_ = null;
    this.notifiedLogout_ = null;
    const options = options_;
    if (!options || typeof options.baseUrl !== "string" || !/^https?:\/\//.test(options.baseUrl)) {
      throw new MiniappError({ code: "InvalidArgument", message: "baseUrl must be an http(s) URL" });
    }
    this.baseUrl_ = options.baseUrl.replace(/\/+$/, "");
    this.transport_ = resolveTransport(options.transport);
    this.storage_ = options.storage || defaultStorage();
    const prefix = options.storageKey || "miniapp";
    this.sessionKey_ = `${prefix}:session`;
    this.clockKey_ = `${prefix}:clock`;
    this.now_ = options.now || (() => Date.now());
    this.retry_ = options.retry === false ? Object.assign({}, DEFAULTS, { attempts: 1 }) : Object.assign({}, DEFAULTS, options.retry);
    this.refreshMarginMs_ = options.refreshMarginMs === void 0 ? 6e4 : options.refreshMarginMs;
    this.timeoutMs_ = options.timeoutMs || 15e3;
    this.provider_ = resolveProvider(options.provider);
    const patch = options.patch || (this.transport_.name === "alipay" || this.transport_.name === "wechat" ? "emulate" : "native");
    this.db = createDb((method, path, opts) => this.request(method, path, opts), patch);
    this.files = createFiles((method, path, opts) => this.request(method, path, opts), this.baseUrl_, this.transport_.name);
    this.account = { delete: (o) => this.deleteAccount_(o) };
  }
  /** DELETE /account until it answers 200 (docs/api.md §4.8), then forgets the session. */
  async deleteAccount_(o = {}) {
    const s = await this.requireSession_();
    let total = 0;
    for (let calls = 1; ; calls++) {
      const b = (await this.request("DELETE", "/account")).data;
      b.itemsDeleted = total += b.itemsDeleted;
      if (b.status === "deleted") {
        if (this.current_ && this.current_.sessionId === s.sessionId) await this.save_(null);
        return b;
      }
      if (o.onProgress) o.onProgress(b);
      if (calls >= (o.maxCalls || 100)) return b;
    }
  }
  // ---- state ----
  load_() {
    if (this.current_ !== void 0) return Promise.resolve();
    if (!this.loading_) {
      this.loading_ = (async () => {
        const [raw, clock] = await stored(
          () => Promise.all([this.storage_.get(this.sessionKey_), this.storage_.get(this.clockKey_)])
        );
        let session = null;
        try {
          const parsed = raw ? JSON.parse(raw) : null;
          if (isSessionResponse(parsed)) session = parsed;
        } catch (e) {
        }
        if (this.current_ === void 0) this.current_ = session;
        const offset = clock ? Number(clock) : NaN;
        if (isFinite(offset) && this.offsetMs_ === 0) this.offsetMs_ = offset;
      })();
      this.loading_.catch(() => {
        this.loading_ = null;
      });
    }
    return this.loading_;
  }
  async save_(s) {
    this.current_ = s;
    await stored(async () => {
      if (s) await this.storage_.set(this.sessionKey_, JSON.stringify(s));
      else await this.storage_.remove(this.sessionKey_);
    });
  }
  serverNow_() {
    return this.now_() + this.offsetMs_;
  }
  clockOffset() {
    return this.offsetMs_;
  }
  async setClockOffset(ms) {
    this.offsetMs_ = Math.round(ms);
    await stored(() => this.storage_.set(this.clockKey_, String(this.offsetMs_)));
  }
  /** Learns the offset from the answer's Date header, else from a RequestExpired message. */
  async learnOffset_(ans) {
    let server = ans.headers.date ? Date.parse(ans.headers.date) : NaN;
    if (!isNaN(server)) {
      server += 500;
    } else {
      const err = ans.data;
      const m = err && err.error && err.error.message ? /server time (\d{8}T\d{6}Z)/.exec(err.error.message) : null;
      server = m ? parseDate(m[1]) + 500 : NaN;
    }
    if (isNaN(server)) return false;
    await this.setClockOffset(server - this.now_());
    return true;
  }
  async session() {
    await this.load_();
    return this.current_ ? stateOf(this.current_) : null;
  }
  async requireSession_() {
    await this.load_();
    if (!this.current_) {
      throw new LoggedOutError({ code: "NotLoggedIn", message: "not signed in: call login() first" });
    }
    return this.current_;
  }
  /** Credentials need renewing: less than the margin (at most half their lifetime) remains. */
  expiresSoon_(s) {
    const exp = Date.parse(s.credentials.expiration);
    if (isNaN(exp)) return true;
    const half = (exp - s.receivedAt) / 2;
    const margin = isNaN(half) ? this.refreshMarginMs_ : Math.min(this.refreshMarginMs_, Math.max(0, half));
    return exp - this.serverNow_() < margin;
  }
  async accept_(data) {
    if (!isSessionResponse(data)) {
      throw new MiniappError({ code: "InvalidResponse", message: "the session answer lacks credentials" });
    }
    const s = {
      sessionId: data.sessionId,
      userId: data.userId,
      expiresAt: data.expiresAt,
      credentials: data.credentials,
      receivedAt: this.serverNow_()
    };
    await this.save_(s);
    return s;
  }
  /** Forgets the session (if still current), tells onLoggedOut once, returns the error. */
  async loggedOut_(err, used, quiet) {
    const out = new LoggedOutError({
      code: err.code,
      message: err.message,
      status: err.status,
      requestId: err.requestId
    });
    if (this.current_ && this.current_.sessionId === used.sessionId) await this.save_(null);
    if (!quiet && this.notifiedLogout_ !== used.sessionId && this.options_.onLoggedOut) {
      this.notifiedLogout_ = used.sessionId;
      try {
        this.options_.onLoggedOut(out);
      } catch (e) {
      }
    }
    return out;
  }
  // ---- session calls ----
  async login(authCode) {
    const code = authCode === void 0 ? await this.authCode_() : authCode;
    if (typeof code !== "string" || code === "") {
      throw new MiniappError({ code: "InvalidArgument", message: "login needs a non-empty auth code" });
    }
    await this.load_().catch(() => void 0);
    const body = this.provider_ === "wechat" ? { provider: "wechat", code } : { authCode: code };
    const ans = await this.send_("POST", "/session", "", JSON.stringify(body), {}, void 0);
    if (ans.status !== 201 && ans.status !== 200) throw this.errorFrom_(ans);
    await this.learnOffset_(ans);
    const s = await this.accept_(ans.data);
    this.notifiedLogout_ = null;
    return stateOf(s);
  }
  authCode_() {
    if (this.options_.getAuthCode) return this.options_.getAuthCode();
    const my2 = alipayApi();
    if (this.provider_ === "alipay" && my2 && typeof my2.getAuthCode === "function") {
      return new Promise((resolve, reject) => {
        my2.getAuthCode({
          scopes: "auth_base",
          success: (res) => resolve(res.authCode || ""),
          fail: (res) => reject(
            new MiniappError({
              code: "Unsupported",
              message: `my.getAuthCode failed (error ${res && res.error}): ${res && res.errorMessage || ""}`
            })
          )
        });
      });
    }
    const wx2 = wechatApi();
    if (this.provider_ === "wechat" && wx2 && typeof wx2.login === "function") {
      return new Promise((resolve, reject) => {
        wx2.login({
          timeout: this.timeoutMs_,
          success: (res) => resolve(res && res.code || ""),
          fail: (res) => reject(new MiniappError({ code: "Unsupported", message: `wx.login failed: ${res && res.errMsg || ""}` }))
        });
      });
    }
    return Promise.reject(
      new MiniappError({ code: "Unsupported", message: "no auth code: pass one to login() or set getAuthCode" })
    );
  }
  async logout() {
    await this.load_();
    const s = this.current_;
    if (!s) return;
    try {
      await this.call_({ method: "DELETE", path: "/session", query: "", headers: {}, idempotent: true, quiet: true });
    } catch (err) {
      if (!(err instanceof MiniappError && err.status === 401)) throw err;
    } finally {
      if (this.current_ && this.current_.sessionId === s.sessionId) await this.save_(null);
    }
  }
  refresh() {
    return this.refreshShared_().then(stateOf);
  }
  /** One refresh at a time: concurrent callers share it. */
  refreshShared_() {
    if (!this.refreshing_) {
      this.refreshing_ = (async () => {
        try {
          const s = await this.requireSession_();
          const ans = await this.call_({
            method: "POST",
            path: "/session/refresh",
            query: "",
            headers: {},
            idempotent: false,
            session: s
          });
          if (!this.current_ || this.current_.sessionId !== s.sessionId) {
            throw new LoggedOutError({ code: "NotLoggedIn", message: "signed out during the refresh" });
          }
          return await this.accept_(ans.data);
        } finally {
          this.refreshing_ = null;
        }
      })();
    }
    return this.refreshing_;
  }
  async fetchSession() {
    return (await this.request("GET", "/session")).data;
  }
  // ---- the pipeline ----
  async request(method, path, options = {}) {
    const m = method.toUpperCase();
    const q = path.indexOf("?");
    const rawPath = q < 0 ? path : path.slice(0, q);
    const pieces = q < 0 || q === path.length - 1 ? [] : [path.slice(q + 1)];
    const query = options.query || {};
    for (const key of Object.keys(query)) {
      const v = query[key];
      if (v !== void 0) pieces.push(`${encodeRfc3986(key)}=${encodeRfc3986(String(v))}`);
    }
    const headers = {};
    const extra = options.headers || {};
    for (const name of Object.keys(extra)) headers[name.toLowerCase()] = extra[name];
    let body;
    if (options.body !== void 0) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    }
    const safe = m === "GET" || m === "HEAD" || m === "PUT" || m === "DELETE" || m === "PATCH" && "if-match" in headers;
    const idempotent = m !== "POST" && (options.idempotent === void 0 ? safe : options.idempotent);
    const ans = await this.call_({ method: m, path: rawPath, query: pieces.join("&"), body, headers, idempotent });
    return { status: ans.status, headers: ans.headers, data: ans.data, requestId: ans.requestId };
  }
  /** Signs and sends, renewing credentials, correcting the clock and retrying as needed. */
  async call_(plan) {
    let attempt = 1;
    let clockFixed = false;
    let renewed = false;
    for (; ; ) {
      let s = plan.session || await this.requireSession_();
      if (!plan.session && this.expiresSoon_(s)) s = await this.refreshShared_();
      let ans;
      try {
        ans = await this.send_(plan.method, plan.path, plan.query, plan.body, plan.headers, s);
      } catch (err2) {
        if (err2 instanceof NetworkError && plan.idempotent && attempt < this.retry_.attempts) {
          await sleep(this.backoff_(attempt++));
          continue;
        }
        throw err2;
      }
      if (ans.status < 400) return ans;
      const err = this.errorFrom_(ans);
      if (ans.status === 401) {
        if (err.code === "RequestExpired" && !clockFixed) {
          clockFixed = true;
          if (await this.learnOffset_(ans)) continue;
        }
        if (err.code === "CredentialsExpired" && !renewed && !plan.session) {
          renewed = true;
          if (this.current_ && this.current_.credentials.accessKeyId === s.credentials.accessKeyId) {
            await this.refreshShared_();
          }
          continue;
        }
        if (LOGGED_OUT_CODES.indexOf(String(err.code)) >= 0) throw await this.loggedOut_(err, s, !!plan.quiet);
      }
      if (plan.idempotent && RETRY_STATUSES.indexOf(ans.status) >= 0 && attempt < this.retry_.attempts) {
        const wait = err.retryAfter === void 0 ? this.backoff_(attempt) : err.retryAfter * 1e3;
        if (wait <= this.retry_.maxRetryAfterMs) {
          attempt++;
          await sleep(wait);
          continue;
        }
      }
      throw err;
    }
  }
  /** Jittered exponential backoff before retry number `attempt`. */
  backoff_(attempt) {
    const ceiling = Math.min(this.retry_.maxDelayMs, this.retry_.baseDelayMs * Math.pow(2, attempt - 1));
    return Math.round(ceiling / 2 + Math.random() * ceiling / 2);
  }
  /** One exchange; signs when given a session. Rejects only without an HTTP answer. */
  async send_(method, path, query, body, extra, s) {
    const headers = {};
    for (const name of Object.keys(extra)) headers[name] = extra[name];
    if (body !== void 0) headers["content-type"] = "application/json";
    if (s) {
      const signed = signRequest(s.credentials, {
        method,
        path,
        query,
        body: body === void 0 ? "" : body,
        date: formatDate(this.serverNow_())
      });
      headers.authorization = signed.authorization;
      headers["x-miniapp-date"] = signed["x-miniapp-date"];
      headers["x-miniapp-security-token"] = signed["x-miniapp-security-token"];
    }
    let res;
    try {
      res = await this.transport_.send({
        method,
        url: this.baseUrl_ + path + (query ? "?" + query : ""),
        headers,
        body: body === void 0 || body === "" ? void 0 : body,
        timeoutMs: this.timeoutMs_
      });
    } catch (err) {
      if (err instanceof MiniappError) throw err;
      throw new NetworkError({ code: "NetworkError", message: err instanceof Error ? err.message : String(err) });
    }
    const ans = { status: Number(res.status), headers: lowerHeaders(res.headers), data: void 0 };
    const raw = res.body;
    if (typeof raw === "string") {
      if (raw !== "") {
        try {
          ans.data = JSON.parse(raw);
        } catch (e) {
          ans.unparsable = raw;
        }
      }
    } else if (raw !== null && raw !== void 0) {
      ans.data = raw;
    }
    const errBody = ans.data;
    ans.requestId = ans.headers["x-request-id"] || errBody && errBody.error && errBody.error.requestId || void 0;
    if (ans.status < 400 && ans.unparsable !== void 0) {
      throw new MiniappError({
        code: "InvalidResponse",
        status: ans.status,
        requestId: ans.requestId,
        message: `the answer to ${method} ${path} is not JSON`
      });
    }
    return ans;
  }
  /** The MiniappError of a 4xx/5xx answer. */
  errorFrom_(ans) {
    const body = ans.data;
    const e = body && typeof body === "object" && body.error && typeof body.error.code === "string" ? body.error : null;
    return new MiniappError({
      code: e ? e.code : "InvalidResponse",
      message: e ? e.message || String(e.code) : `HTTP ${ans.status} without an API error body`,
      status: ans.status,
      requestId: ans.requestId,
      retryAfter: parseRetryAfter(ans.headers["retry-after"], this.serverNow_()),
      index: e ? e.index : void 0
    });
  }
};
function createClient(options) {
  return new Client(options);
}
