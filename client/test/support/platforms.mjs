// Stand-ins for the Mini Program globals `my` (Alipay) and `wx` (WeChat): their request calls
// become real HTTP requests (node:http), answered in each platform's own shape.
import { request } from 'node:http';

function http(url, method, headers, body, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = {};
        for (let i = 0; i < res.rawHeaders.length; i += 2) raw[res.rawHeaders[i]] = res.rawHeaders[i + 1];
        resolve({ status: res.statusCode, headers: raw, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const titleCase = (h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.replace(/(^|-)([a-z])/g, (_, d, c) => d + c.toUpperCase()), v]));

function parse(text, dataType) {
  if (dataType !== 'json') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * `my`: GET/POST/PUT/DELETE only (no PATCH), `headers`, answers {status, headers, data}.
 * failOnHttpError: 4xx/5xx go to `fail` with error 19 and the answer attached, as some
 * Alipay base libraries do.
 */
export function fakeMy({ authCode = 'dev-alice', failOnHttpError = false } = {}) {
  const store = new Map();
  const calls = [];
  return {
    calls,
    store,
    request(opts) {
      calls.push(opts);
      if (!['GET', 'POST', 'PUT', 'DELETE'].includes(opts.method)) {
        setTimeout(() => opts.fail({ error: 2, errorMessage: `unsupported method ${opts.method}` }), 0);
        return;
      }
      if (opts.data !== undefined && typeof opts.data !== 'string') throw new Error('the SDK must send a string');
      http(opts.url, opts.method, opts.headers, opts.data, opts.timeout).then(
        (r) => {
          const res = { status: r.status, headers: r.headers, data: parse(r.text, opts.dataType) };
          if (failOnHttpError && r.status >= 400) opts.fail({ error: 19, errorMessage: 'http status error', ...res });
          else opts.success(res);
        },
        (e) => opts.fail({ error: /timeout/.test(e.message) ? 13 : 12, errorMessage: e.message }),
      );
    },
    getAuthCode(opts) {
      calls.push({ getAuthCode: opts.scopes });
      setTimeout(() => opts.success({ authCode }), 0);
    },
    getStorageSync({ key }) {
      return { data: store.has(key) ? store.get(key) : null };
    },
    setStorageSync({ key, data }) {
      store.set(key, data);
    },
    removeStorageSync({ key }) {
      store.delete(key);
    },
  };
}

/**
 * `wx`: no PATCH, `header`, answers {statusCode, header, data} with Title-Case header names;
 * `wx.login` hands out `loginCode`, or fails with `loginFails` as its errMsg.
 */
export function fakeWx({ loginCode = 'dev-wx-carol', loginFails } = {}) {
  const store = new Map();
  const calls = [];
  return {
    calls,
    store,
    login(opts) {
      calls.push({ login: opts.timeout });
      if (loginFails) setTimeout(() => opts.fail({ errMsg: loginFails }), 0);
      else setTimeout(() => opts.success({ code: loginCode, errMsg: 'login:ok' }), 0);
    },
    request(opts) {
      calls.push(opts);
      if (!['OPTIONS', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'CONNECT'].includes(opts.method)) {
        setTimeout(() => opts.fail({ errMsg: `request:fail method ${opts.method} not supported` }), 0);
        return;
      }
      if (opts.data !== undefined && typeof opts.data !== 'string') throw new Error('the SDK must send a string');
      http(opts.url, opts.method, opts.header, opts.data, opts.timeout).then(
        (r) => opts.success({ statusCode: r.status, header: titleCase(r.headers), data: parse(r.text, opts.dataType) }),
        (e) => opts.fail({ errMsg: `request:fail ${e.message}` }),
      );
    },
    getStorageSync(key) {
      return store.has(key) ? store.get(key) : '';
    },
    setStorageSync(key, value) {
      store.set(key, value);
    },
    removeStorageSync(key) {
      store.delete(key);
    },
  };
}
