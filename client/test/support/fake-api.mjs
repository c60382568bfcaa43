// A small HTTP server that speaks the contract's session and data API for the unit tests: it
// verifies signatures with node:crypto (independently of the SDK's @noble/hashes), keeps its
// own (fake) clock, and can be told to fail the next requests in chosen ways.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

const ALGO = 'MINIAPP-HMAC-SHA256';

function enc(bytes) {
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Canonical query per CONTRACT.md §6, written again here with Buffer (no escape checks). */
export function canonical(raw) {
  const dec = (s) => {
    const b = Buffer.from(s, 'utf8');
    const out = [];
    for (let i = 0; i < b.length; i++) {
      if (b[i] === 0x25) {
        out.push(parseInt(b.subarray(i + 1, i + 3).toString('latin1'), 16));
        i += 2;
      } else out.push(b[i]);
    }
    return out;
  };
  return raw
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=');
      return [enc(dec(i < 0 ? p : p.slice(0, i))), enc(dec(i < 0 ? '' : p.slice(i + 1)))];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map((p) => p.join('='))
    .join('&');
}

function basicDate(ms) {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function parseBasic(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : NaN;
}

const rfc3339 = (ms) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000', '');

export class FakeApi {
  constructor({ credentialTtlSecs = 3600, sessionTtlSecs = 86400, sendDate = true } = {}) {
    this.clock = { offset: 0 };
    this.credentialTtlSecs = credentialTtlSecs;
    this.sessionTtlSecs = sessionTtlSecs;
    this.sendDate = sendDate;
    this.sessions = new Map();
    /** The bodies of every POST /session, parsed. */
    this.logins = [];
    this.creds = new Map();
    this.items = new Map();
    /** Scripted answers: [{match(req) → bool, action}] consumed in order. */
    this.script = [];
    this.log = [];
    this.refreshes = 0;
    this.seq = 0;
    this.collectionsPerPage = 2;
    this.deletesPerCall = 2;
  }

  /** The server's clock (ms): real time plus a settable offset. */
  now() {
    return Date.now() + this.clock.offset;
  }

  /**
   * The next `times` requests that `match` get `action`: {status, code, message, headers},
   * {status, raw, headers} (a non-JSON body), 'reset' (connection dropped) or 'hang'.
   */
  failNext(match, action, times = 1) {
    for (let i = 0; i < times; i++) this.script.push({ match, action });
  }

  count(method, path) {
    return this.log.filter((l) => l.method === method && (path === undefined || l.path === path)).length;
  }

  start() {
    this.server = createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks)));
    });
    return new Promise((resolve) => {
      this.server.listen(0, '127.0.0.1', () => {
        this.url = `http://127.0.0.1:${this.server.address().port}`;
        resolve(this);
      });
    });
  }

  stop() {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(resolve));
  }

  send(res, status, body, headers = {}) {
    const requestId = `req-${++this.seq}`;
    res.sendDate = false;
    if (this.sendDate) res.setHeader('date', new Date(this.now()).toUTCString());
    res.setHeader('x-request-id', requestId);
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    if (body && typeof body === 'object' && body.error) body.error.requestId = requestId;
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    if (text) res.setHeader('content-type', typeof body === 'string' ? 'text/html' : 'application/json');
    res.writeHead(status);
    res.end(text);
  }

  error(res, status, code, message = code, headers) {
    this.send(res, status, { error: { code, message } }, headers);
  }

  issue(sessionId) {
    const s = this.sessions.get(sessionId);
    const id = 'STS.' + randomBytes(8).toString('hex');
    const secret = randomBytes(16).toString('base64');
    const token = 'tok.' + randomBytes(8).toString('hex');
    const expiration = Math.min(this.now() + this.credentialTtlSecs * 1000, s.expiresAt);
    this.creds.set(id, { secret, token, sessionId, expiration });
    return {
      sessionId,
      userId: s.userId,
      expiresAt: rfc3339(s.expiresAt),
      credentials: { accessKeyId: id, accessKeySecret: secret, securityToken: token, expiration: rfc3339(expiration) },
    };
  }

  /** The contract's checks, in its order; returns the credential record or sends the error. */
  verify(req, res, path, rawQuery, body, allowExpired) {
    const h = req.headers;
    if (!h.authorization || !h['x-miniapp-date'] || !h['x-miniapp-security-token']) {
      this.error(res, 401, 'MissingAuthorization');
      return null;
    }
    const m = /^MINIAPP-HMAC-SHA256 Credential=([^ ,]+), *Signature=([0-9a-fA-F]{64})$/.exec(h.authorization);
    const date = parseBasic(h['x-miniapp-date']);
    if (!m || isNaN(date)) {
      this.error(res, 401, 'InvalidAuthorization');
      return null;
    }
    const c = this.creds.get(m[1]);
    if (!c || c.token !== h['x-miniapp-security-token']) {
      this.error(res, 401, 'InvalidSecurityToken');
      return null;
    }
    if (!allowExpired && this.now() >= c.expiration) {
      this.error(res, 401, 'CredentialsExpired');
      return null;
    }
    if (Math.abs(date - this.now()) > 300000) {
      const msg = `x-miniapp-date ${h['x-miniapp-date']} is more than 300 seconds from the server time ${basicDate(this.now())}`;
      this.error(res, 401, 'RequestExpired', msg);
      return null;
    }
    const sts = [ALGO, h['x-miniapp-date'], req.method, path, canonical(rawQuery), createHash('sha256').update(body).digest('hex')].join('\n');
    const want = createHmac('sha256', Buffer.from(c.secret, 'utf8')).update(sts).digest('hex');
    if (want !== m[2].toLowerCase()) {
      this.error(res, 401, 'SignatureDoesNotMatch');
      return null;
    }
    const s = this.sessions.get(c.sessionId);
    if (s.revoked) {
      this.error(res, 401, 'SessionRevoked');
      return null;
    }
    if (this.now() >= s.expiresAt) {
      this.error(res, 401, 'SessionExpired');
      return null;
    }
    return c;
  }

  handle(req, res, body) {
    const url = req.url;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? '' : url.slice(q + 1);
    this.log.push({ method: req.method, path, query: rawQuery, headers: req.headers, body: body.toString('utf8') });
    const i = this.script.findIndex((s) => s.match({ method: req.method, path }));
    if (i >= 0) {
      const { action } = this.script.splice(i, 1)[0];
      if (action === 'reset') {
        req.socket.destroy();
        return;
      }
      if (action === 'hang') return; // never answers (closed by stop())
      if (action.raw !== undefined) {
        this.send(res, action.status, action.raw, action.headers);
        return;
      }
      this.error(res, action.status, action.code, action.message, action.headers);
      return;
    }
    if (req.method === 'POST' && path === '/session') {
      let login;
      try {
        login = JSON.parse(body.toString('utf8'));
      } catch {
        return this.error(res, 400, 'InvalidJson');
      }
      this.logins.push(login);
      // Like the server: Alipay ({authCode}) by default, WeChat ids carry a `wechat:` prefix.
      const wechat = login.provider === 'wechat';
      const code = wechat ? login.code : login.authCode;
      const user = /^dev-(?:wx-)?(\w+)$/.exec(code || '');
      if (!user || /^dev-(wx-)?invalid$/.test(code)) return this.error(res, 401, 'AuthCodeInvalid');
      const sessionId = randomBytes(16).toString('hex');
      const userId = `${wechat ? 'wechat:' : ''}u-${user[1]}`;
      this.sessions.set(sessionId, { userId, expiresAt: this.now() + this.sessionTtlSecs * 1000 });
      return this.send(res, 201, this.issue(sessionId));
    }
    const refresh = req.method === 'POST' && path === '/session/refresh';
    const c = this.verify(req, res, path, rawQuery, body, refresh);
    if (!c) return;
    const s = this.sessions.get(c.sessionId);
    if (refresh) {
      this.refreshes++;
      const out = this.issue(c.sessionId);
      return this.send(res, 200, { sessionId: out.sessionId, userId: out.userId, expiresAt: out.expiresAt, credentials: out.credentials });
    }
    if (path === '/session' && req.method === 'DELETE') {
      s.revoked = true;
      return this.send(res, 204);
    }
    if (path === '/session' && req.method === 'GET') {
      return this.send(res, 200, { sessionId: c.sessionId, userId: s.userId, expiresAt: rfc3339(s.expiresAt), createdAt: rfc3339(this.now()) });
    }
    if (path === '/db' && req.method === 'GET') return this.collections(res, s.userId, rawQuery);
    if (path === '/account' && req.method === 'DELETE') return this.deleteAccount(res, s.userId);
    return this.data(req, res, s.userId, path, rawQuery, body);
  }

  /** POST /db: every operation's condition first (412 with `index`), then all of them. */
  batch(res, user, { operations }) {
    const t = rfc3339(this.now());
    for (const [index, o] of operations.entries()) {
      const item = this.items.get(`${user}/${o.collection}/${o.id}`);
      const tagOk = o.ifMatch === undefined || (item && (o.ifMatch === '*' || o.ifMatch === `"${item.version}"`));
      if (!tagOk || (o.ifNoneMatch === '*' && item)) {
        return this.send(res, 412, { error: { code: 'PreconditionFailed', message: 'condition', index } });
      }
    }
    const results = operations.map((o) => {
      const id = o.id || `id${String(++this.seq).padStart(6, '0')}`;
      const key = `${user}/${o.collection}/${id}`;
      const old = this.items.get(key);
      if (o.op === 'delete') {
        this.items.delete(key);
        return { op: o.op, collection: o.collection, id, deleted: true };
      }
      const data = o.op === 'patch' ? { ...old.data, ...o.patch } : o.data;
      const item = { id, version: old ? old.version + 1 : 1, createdAt: old ? old.createdAt : t, updatedAt: t, data };
      this.items.set(key, item);
      return { op: o.op, collection: o.collection, id, item };
    });
    return this.send(res, 200, { results });
  }

  /** GET /db: the user's collections with counts, `collectionsPerPage` at a time. */
  collections(res, user, rawQuery) {
    const counts = new Map();
    for (const k of this.items.keys()) {
      const [u, c] = k.split('/');
      if (u === user) counts.set(c, (counts.get(c) || 0) + 1);
    }
    const after = new URLSearchParams(rawQuery).get('cursor') || '';
    const names = [...counts.keys()].sort().filter((n) => n > after);
    const page = names.slice(0, this.collectionsPerPage);
    const nextCursor = names.length > page.length ? page[page.length - 1] : null;
    return this.send(res, 200, { collections: page.map((name) => ({ name, count: counts.get(name) })), nextCursor });
  }

  /** DELETE /account: `deletesPerCall` items a call (202), then every session revoked (200). */
  deleteAccount(res, user) {
    const mine = [...this.items.keys()].filter((k) => k.startsWith(`${user}/`));
    const now = mine.slice(0, this.deletesPerCall);
    for (const k of now) this.items.delete(k);
    if (mine.length > now.length) {
      return this.send(res, 202, { status: 'deleting', step: 'items', itemsDeleted: now.length });
    }
    for (const s of this.sessions.values()) if (s.userId === user) s.revoked = true;
    return this.send(res, 200, { status: 'deleted', itemsDeleted: now.length });
  }

  /** A small per-user item store: enough for the SDK's data calls. */
  data(req, res, user, path, rawQuery, body) {
    const parts = path.split('/').map(decodeURIComponent);
    if (path === '/db' && req.method === 'POST') return this.batch(res, user, JSON.parse(body.toString('utf8')));
    if (parts[1] !== 'db' || parts.length < 3) return this.error(res, 404, 'RouteNotFound');
    const coll = parts[2];
    const id = parts[3];
    const key = `${user}/${coll}/${id}`;
    const item = this.items.get(key);
    const ifMatch = req.headers['if-match'];
    const matches = (it) => ifMatch === undefined || (it && (ifMatch === '*' || ifMatch === `"${it.version}"`));
    const json = () => JSON.parse(body.toString('utf8'));
    const t = rfc3339(this.now());
    if (id === undefined && req.method === 'GET') {
      const params = new URLSearchParams(rawQuery);
      const limit = Number(params.get('limit') || 20);
      const prefix = params.get('prefix') || '';
      const desc = params.get('order') === 'desc';
      let ids = [...this.items.keys()].filter((k) => k.startsWith(`${user}/${coll}/${prefix}`)).map((k) => k.split('/')[2]).sort();
      if (desc) ids.reverse();
      const after = params.get('cursor');
      if (after) ids = ids.filter((x) => (desc ? x < after : x > after));
      // `where`: terms `field == <JSON>` joined by AND, enough for the SDK's tests.
      for (const term of (params.get('where') || '').split(' AND ').filter(Boolean)) {
        const m = /^(\S+) == (.*)$/.exec(term);
        if (!m) return this.error(res, 400, 'InvalidQuery');
        const want = JSON.stringify(JSON.parse(m[2]));
        ids = ids.filter((x) => {
          const v = m[1].split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), this.items.get(`${user}/${coll}/${x}`).data);
          return JSON.stringify(v) === want;
        });
      }
      const page = ids.slice(0, limit);
      const nextCursor = ids.length > limit ? page[page.length - 1] : null;
      return this.send(res, 200, { items: page.map((x) => this.items.get(`${user}/${coll}/${x}`)), nextCursor });
    }
    if (id === undefined && req.method === 'POST') {
      const newId = `id${String(++this.seq).padStart(6, '0')}`;
      const it = { id: newId, version: 1, createdAt: t, updatedAt: t, data: json() };
      this.items.set(`${user}/${coll}/${newId}`, it);
      return this.send(res, 201, it, { etag: '"1"' });
    }
    if (req.method === 'GET') return item ? this.send(res, 200, item, { etag: `"${item.version}"` }) : this.error(res, 404, 'NotFound');
    if (req.method === 'PUT') {
      if (req.headers['if-none-match'] === '*' && item) return this.error(res, 412, 'PreconditionFailed');
      if (!matches(item)) return this.error(res, 412, 'PreconditionFailed');
      const it = item
        ? { ...item, version: item.version + 1, updatedAt: t, data: json() }
        : { id, version: 1, createdAt: t, updatedAt: t, data: json() };
      this.items.set(key, it);
      return this.send(res, item ? 200 : 201, it, { etag: `"${it.version}"` });
    }
    if (req.method === 'PATCH') {
      if (ifMatch !== undefined && !matches(item)) return this.error(res, 412, 'PreconditionFailed');
      if (!item) return this.error(res, 404, 'NotFound');
      const data = { ...item.data };
      for (const [k, v] of Object.entries(json())) {
        if (v === null) delete data[k];
        else data[k] = v;
      }
      const it = { ...item, version: item.version + 1, updatedAt: t, data };
      this.items.set(key, it);
      return this.send(res, 200, it);
    }
    if (req.method === 'DELETE') {
      if (ifMatch !== undefined && !matches(item)) return this.error(res, 412, 'PreconditionFailed');
      if (!item) return this.error(res, 404, 'NotFound');
      this.items.delete(key);
      return this.send(res, 204);
    }
    return this.error(res, 405, 'MethodNotAllowed');
  }
}
