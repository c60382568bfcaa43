// The client: session state, the signed-request pipeline (refresh, clock skew, retries).

import type {
  Account,
  AccountDeletion,
  ApiResponse,
  ClientOptions,
  Db,
  DeleteAccountOptions,
  Files,
  KeyValueStorage,
  MiniappClient,
  Provider,
  RequestOptions,
  SessionState,
} from './api.js';
import { createDb } from './db.js';
import { createFiles } from './files.js';
import { LoggedOutError, MiniappError, NetworkError } from './errors.js';
import { encodeRfc3986, formatDate, parseDate, signRequest } from './signing.js';
import { defaultStorage } from './storage.js';
import { alipayApi, resolveTransport, wechatApi } from './transport.js';
import type { ResolvedTransport } from './transport.js';
import type { SessionInfo, SessionResponse } from './types.js';

declare function setTimeout(fn: () => void, ms: number): unknown;

/** A session as kept in storage: the server's answer plus when it arrived (server time, ms). */
interface StoredSession extends SessionResponse {
  receivedAt: number;
}

/** An answer, headers with lower-case names. */
interface Answer {
  status: number;
  headers: Record<string, string>;
  data: unknown;
  requestId?: string;
  /** The body was not JSON. */
  unparsable?: string;
}

/** How one call goes through the pipeline. */
interface CallPlan {
  method: string;
  path: string;
  query: string;
  body?: string;
  headers: Record<string, string>;
  idempotent: boolean;
  /** Sign with this session and never refresh (the refresh call itself). */
  session?: StoredSession;
  /** Logout: a dead session is not reported through onLoggedOut. */
  quiet?: boolean;
}

const RETRY_STATUSES = [429, 503, 504];
const LOGGED_OUT_CODES = ['SessionExpired', 'SessionRevoked'];
const DEFAULTS = { attempts: 3, baseDelayMs: 200, maxDelayMs: 2000, maxRetryAfterMs: 10000 };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms);
  });
}

/** Runs a storage call; its failures become MiniappError `StorageError`. */
async function stored<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new MiniappError({
      code: 'StorageError',
      message: `storage failed: ${err instanceof Error ? err.message : String(err)}`,
    });
  }
}

function lowerHeaders(raw: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const name of Object.keys(raw)) {
    const v = raw[name];
    if (v === undefined || v === null) continue;
    out[name.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/** Retry-After: seconds, or an HTTP date. */
function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return parseInt(value, 10);
  const at = Date.parse(value);
  return isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

function stateOf(s: StoredSession): SessionState {
  return {
    sessionId: s.sessionId,
    userId: s.userId,
    expiresAt: s.expiresAt,
    credentialsExpireAt: s.credentials.expiration,
  };
}

function isSessionResponse(v: unknown): v is SessionResponse {
  const s = v as SessionResponse;
  return (
    !!s &&
    typeof s.sessionId === 'string' &&
    typeof s.userId === 'string' &&
    typeof s.expiresAt === 'string' &&
    !!s.credentials &&
    typeof s.credentials.accessKeyId === 'string' &&
    typeof s.credentials.accessKeySecret === 'string' &&
    typeof s.credentials.securityToken === 'string' &&
    typeof s.credentials.expiration === 'string'
  );
}

/** The provider named in the options, else the platform's: `my` first, as for transports. */
function resolveProvider(option: Provider | undefined): Provider {
  if (option !== undefined) {
    if (option !== 'alipay' && option !== 'wechat') {
      throw new MiniappError({ code: 'InvalidArgument', message: "provider must be 'alipay' or 'wechat'" });
    }
    return option;
  }
  return !alipayApi() && wechatApi() ? 'wechat' : 'alipay';
}

class Client implements MiniappClient {
  readonly db: Db;
  readonly account: Account;
  readonly files: Files;
  private readonly baseUrl_: string;
  private readonly transport_: ResolvedTransport;
  private readonly storage_: KeyValueStorage;
  private readonly sessionKey_: string;
  private readonly clockKey_: string;
  private readonly now_: () => number;
  private readonly retry_: typeof DEFAULTS;
  private readonly refreshMarginMs_: number;
  private readonly timeoutMs_: number;
  private readonly provider_: Provider;
  private offsetMs_ = 0;
  /** undefined until read from storage. */
  private current_: StoredSession | null | undefined;
  private loading_: Promise<void> | null = null;
  private refreshing_: Promise<StoredSession> | null = null;
  private notifiedLogout_: string | null = null;

  constructor(private readonly options_: ClientOptions) {
    const options = options_;
    if (!options || typeof options.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl)) {
      throw new MiniappError({ code: 'InvalidArgument', message: 'baseUrl must be an http(s) URL' });
    }
    this.baseUrl_ = options.baseUrl.replace(/\/+$/, '');
    this.transport_ = resolveTransport(options.transport);
    this.storage_ = options.storage || defaultStorage();
    const prefix = options.storageKey || 'miniapp';
    this.sessionKey_ = `${prefix}:session`;
    this.clockKey_ = `${prefix}:clock`;
    this.now_ = options.now || (() => Date.now());
    this.retry_ =
      options.retry === false ? Object.assign({}, DEFAULTS, { attempts: 1 }) : Object.assign({}, DEFAULTS, options.retry);
    this.refreshMarginMs_ = options.refreshMarginMs === undefined ? 60000 : options.refreshMarginMs;
    this.timeoutMs_ = options.timeoutMs || 15000;
    this.provider_ = resolveProvider(options.provider);
    const patch = options.patch || (this.transport_.name === 'alipay' || this.transport_.name === 'wechat' ? 'emulate' : 'native');
    this.db = createDb((method, path, opts) => this.request(method, path, opts), patch);
    this.files = createFiles((method, path, opts) => this.request(method, path, opts), this.baseUrl_, this.transport_.name);
    this.account = { delete: (o) => this.deleteAccount_(o) };
  }

  /** DELETE /account until it answers 200 (docs/api.md §4.8), then forgets the session. */
  private async deleteAccount_(o: DeleteAccountOptions = {}): Promise<AccountDeletion> {
    const s = await this.requireSession_();
    let total = 0;
    for (let calls = 1; ; calls++) {
      // A lost 200 makes the next call's answer SessionRevoked (a LoggedOutError): done too.
      const b = (await this.request<AccountDeletion>('DELETE', '/account')).data;
      b.itemsDeleted = total += b.itemsDeleted;
      if (b.status === 'deleted') {
        if (this.current_ && this.current_.sessionId === s.sessionId) await this.save_(null);
        return b;
      }
      if (o.onProgress) o.onProgress(b);
      if (calls >= (o.maxCalls || 100)) return b;
    }
  }

  // ---- state ----

  private load_(): Promise<void> {
    if (this.current_ !== undefined) return Promise.resolve();
    if (!this.loading_) {
      this.loading_ = (async () => {
        const [raw, clock] = await stored(() =>
          Promise.all([this.storage_.get(this.sessionKey_), this.storage_.get(this.clockKey_)]),
        );
        let session: StoredSession | null = null;
        try {
          const parsed = raw ? JSON.parse(raw) : null;
          if (isSessionResponse(parsed)) session = parsed as StoredSession;
        } catch {
          // A corrupt entry is no session.
        }
        // A login that finished meanwhile wins over what storage held.
        if (this.current_ === undefined) this.current_ = session;
        const offset = clock ? Number(clock) : NaN;
        if (isFinite(offset) && this.offsetMs_ === 0) this.offsetMs_ = offset;
      })();
      this.loading_.catch(() => {
        this.loading_ = null;
      });
    }
    return this.loading_;
  }

  private async save_(s: StoredSession | null): Promise<void> {
    this.current_ = s;
    await stored(async () => {
      if (s) await this.storage_.set(this.sessionKey_, JSON.stringify(s));
      else await this.storage_.remove(this.sessionKey_);
    });
  }

  private serverNow_(): number {
    return this.now_() + this.offsetMs_;
  }

  clockOffset(): number {
    return this.offsetMs_;
  }

  async setClockOffset(ms: number): Promise<void> {
    this.offsetMs_ = Math.round(ms);
    await stored(() => this.storage_.set(this.clockKey_, String(this.offsetMs_)));
  }

  /** Learns the offset from the answer's Date header, else from a RequestExpired message. */
  private async learnOffset_(ans: Answer): Promise<boolean> {
    let server = ans.headers.date ? Date.parse(ans.headers.date) : NaN;
    if (!isNaN(server)) {
      // Date has whole seconds: the server's clock was somewhere in the next second.
      server += 500;
    } else {
      // Cross-origin fetch hides Date unless exposed; the RequestExpired message names the time.
      const err = ans.data as { error?: { message?: string } } | undefined;
      const m = err && err.error && err.error.message ? /server time (\d{8}T\d{6}Z)/.exec(err.error.message) : null;
      server = m ? parseDate(m[1]) + 500 : NaN;
    }
    if (isNaN(server)) return false;
    await this.setClockOffset(server - this.now_());
    return true;
  }

  async session(): Promise<SessionState | null> {
    await this.load_();
    return this.current_ ? stateOf(this.current_) : null;
  }

  private async requireSession_(): Promise<StoredSession> {
    await this.load_();
    if (!this.current_) {
      throw new LoggedOutError({ code: 'NotLoggedIn', message: 'not signed in: call login() first' });
    }
    return this.current_;
  }

  /** Credentials need renewing: less than the margin (at most half their lifetime) remains. */
  private expiresSoon_(s: StoredSession): boolean {
    const exp = Date.parse(s.credentials.expiration);
    if (isNaN(exp)) return true;
    const half = (exp - s.receivedAt) / 2;
    const margin = isNaN(half) ? this.refreshMarginMs_ : Math.min(this.refreshMarginMs_, Math.max(0, half));
    return exp - this.serverNow_() < margin;
  }

  private async accept_(data: unknown): Promise<StoredSession> {
    if (!isSessionResponse(data)) {
      throw new MiniappError({ code: 'InvalidResponse', message: 'the session answer lacks credentials' });
    }
    const s: StoredSession = {
      sessionId: data.sessionId,
      userId: data.userId,
      expiresAt: data.expiresAt,
      credentials: data.credentials,
      receivedAt: this.serverNow_(),
    };
    await this.save_(s);
    return s;
  }

  /** Forgets the session (if still current), tells onLoggedOut once, returns the error. */
  private async loggedOut_(err: MiniappError, used: StoredSession, quiet: boolean): Promise<LoggedOutError> {
    const out = new LoggedOutError({
      code: err.code,
      message: err.message,
      status: err.status,
      requestId: err.requestId,
    });
    if (this.current_ && this.current_.sessionId === used.sessionId) await this.save_(null);
    if (!quiet && this.notifiedLogout_ !== used.sessionId && this.options_.onLoggedOut) {
      this.notifiedLogout_ = used.sessionId;
      try {
        this.options_.onLoggedOut(out);
      } catch {
        // The app's callback must not change what the call reports.
      }
    }
    return out;
  }

  // ---- session calls ----

  async login(authCode?: string): Promise<SessionState> {
    const code = authCode === undefined ? await this.authCode_() : authCode;
    if (typeof code !== 'string' || code === '') {
      throw new MiniappError({ code: 'InvalidArgument', message: 'login needs a non-empty auth code' });
    }
    await this.load_().catch(() => undefined);
    // Alipay's body stays the server's default, so older servers keep working.
    const body = this.provider_ === 'wechat' ? { provider: 'wechat', code } : { authCode: code };
    const ans = await this.send_('POST', '/session', '', JSON.stringify(body), {}, undefined);
    if (ans.status !== 201 && ans.status !== 200) throw this.errorFrom_(ans);
    await this.learnOffset_(ans);
    const s = await this.accept_(ans.data);
    this.notifiedLogout_ = null;
    return stateOf(s);
  }

  private authCode_(): Promise<string> {
    if (this.options_.getAuthCode) return this.options_.getAuthCode();
    const my = alipayApi();
    if (this.provider_ === 'alipay' && my && typeof my.getAuthCode === 'function') {
      return new Promise((resolve, reject) => {
        my.getAuthCode({
          scopes: 'auth_base',
          success: (res: { authCode?: string }) => resolve(res.authCode || ''),
          fail: (res: { error?: number; errorMessage?: string }) =>
            reject(
              new MiniappError({
                code: 'Unsupported',
                message: `my.getAuthCode failed (error ${res && res.error}): ${(res && res.errorMessage) || ''}`,
              }),
            ),
        });
      });
    }
    const wx = wechatApi();
    if (this.provider_ === 'wechat' && wx && typeof wx.login === 'function') {
      return new Promise((resolve, reject) => {
        wx.login({
          timeout: this.timeoutMs_,
          success: (res: { code?: string }) => resolve((res && res.code) || ''),
          fail: (res: { errMsg?: string }) =>
            reject(new MiniappError({ code: 'Unsupported', message: `wx.login failed: ${(res && res.errMsg) || ''}` })),
        });
      });
    }
    return Promise.reject(
      new MiniappError({ code: 'Unsupported', message: 'no auth code: pass one to login() or set getAuthCode' }),
    );
  }

  async logout(): Promise<void> {
    await this.load_();
    const s = this.current_;
    if (!s) return;
    try {
      await this.call_({ method: 'DELETE', path: '/session', query: '', headers: {}, idempotent: true, quiet: true });
    } catch (err) {
      // Already dead on the server (401 of any kind): signed out all the same.
      if (!(err instanceof MiniappError && err.status === 401)) throw err;
    } finally {
      if (this.current_ && this.current_.sessionId === s.sessionId) await this.save_(null);
    }
  }

  refresh(): Promise<SessionState> {
    return this.refreshShared_().then(stateOf);
  }

  /** One refresh at a time: concurrent callers share it. */
  private refreshShared_(): Promise<StoredSession> {
    if (!this.refreshing_) {
      this.refreshing_ = (async () => {
        try {
          const s = await this.requireSession_();
          const ans = await this.call_({
            method: 'POST',
            path: '/session/refresh',
            query: '',
            headers: {},
            idempotent: false,
            session: s,
          });
          // A logout or new login meanwhile wins.
          if (!this.current_ || this.current_.sessionId !== s.sessionId) {
            throw new LoggedOutError({ code: 'NotLoggedIn', message: 'signed out during the refresh' });
          }
          return await this.accept_(ans.data);
        } finally {
          this.refreshing_ = null;
        }
      })();
    }
    return this.refreshing_;
  }

  async fetchSession(): Promise<SessionInfo> {
    return (await this.request<SessionInfo>('GET', '/session')).data;
  }

  // ---- the pipeline ----

  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const m = method.toUpperCase();
    const q = path.indexOf('?');
    const rawPath = q < 0 ? path : path.slice(0, q);
    const pieces: string[] = q < 0 || q === path.length - 1 ? [] : [path.slice(q + 1)];
    const query = options.query || {};
    for (const key of Object.keys(query)) {
      const v = query[key];
      if (v !== undefined) pieces.push(`${encodeRfc3986(key)}=${encodeRfc3986(String(v))}`);
    }
    const headers: Record<string, string> = {};
    const extra = options.headers || {};
    for (const name of Object.keys(extra)) headers[name.toLowerCase()] = extra[name];
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    }
    const safe = m === 'GET' || m === 'HEAD' || m === 'PUT' || m === 'DELETE' || (m === 'PATCH' && 'if-match' in headers);
    const idempotent = m !== 'POST' && (options.idempotent === undefined ? safe : options.idempotent);
    const ans = await this.call_({ method: m, path: rawPath, query: pieces.join('&'), body, headers, idempotent });
    return { status: ans.status, headers: ans.headers, data: ans.data as T, requestId: ans.requestId };
  }

  /** Signs and sends, renewing credentials, correcting the clock and retrying as needed. */
  private async call_(plan: CallPlan): Promise<Answer> {
    let attempt = 1;
    let clockFixed = false;
    let renewed = false;
    for (;;) {
      let s = plan.session || (await this.requireSession_());
      if (!plan.session && this.expiresSoon_(s)) s = await this.refreshShared_();
      let ans: Answer;
      try {
        ans = await this.send_(plan.method, plan.path, plan.query, plan.body, plan.headers, s);
      } catch (err) {
        if (err instanceof NetworkError && plan.idempotent && attempt < this.retry_.attempts) {
          await sleep(this.backoff_(attempt++));
          continue;
        }
        throw err;
      }
      if (ans.status < 400) return ans;
      const err = this.errorFrom_(ans);
      if (ans.status === 401) {
        if (err.code === 'RequestExpired' && !clockFixed) {
          clockFixed = true;
          if (await this.learnOffset_(ans)) continue;
        }
        if (err.code === 'CredentialsExpired' && !renewed && !plan.session) {
          renewed = true;
          // Someone else may have refreshed since this request was signed.
          if (this.current_ && this.current_.credentials.accessKeyId === s.credentials.accessKeyId) {
            await this.refreshShared_();
          }
          continue;
        }
        if (LOGGED_OUT_CODES.indexOf(String(err.code)) >= 0) throw await this.loggedOut_(err, s, !!plan.quiet);
      }
      if (plan.idempotent && RETRY_STATUSES.indexOf(ans.status) >= 0 && attempt < this.retry_.attempts) {
        const wait = err.retryAfter === undefined ? this.backoff_(attempt) : err.retryAfter * 1000;
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
  private backoff_(attempt: number): number {
    const ceiling = Math.min(this.retry_.maxDelayMs, this.retry_.baseDelayMs * Math.pow(2, attempt - 1));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  /** One exchange; signs when given a session. Rejects only without an HTTP answer. */
  private async send_(
    method: string,
    path: string,
    query: string,
    body: string | undefined,
    extra: Record<string, string>,
    s: StoredSession | undefined,
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    for (const name of Object.keys(extra)) headers[name] = extra[name];
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (s) {
      const signed = signRequest(s.credentials, {
        method,
        path,
        query,
        body: body === undefined ? '' : body,
        date: formatDate(this.serverNow_()),
      });
      headers.authorization = signed.authorization;
      headers['x-miniapp-date'] = signed['x-miniapp-date'];
      headers['x-miniapp-security-token'] = signed['x-miniapp-security-token'];
    }
    let res;
    try {
      res = await this.transport_.send({
        method,
        url: this.baseUrl_ + path + (query ? '?' + query : ''),
        headers,
        body: body === undefined || body === '' ? undefined : body,
        timeoutMs: this.timeoutMs_,
      });
    } catch (err) {
      if (err instanceof MiniappError) throw err;
      throw new NetworkError({ code: 'NetworkError', message: err instanceof Error ? err.message : String(err) });
    }
    const ans: Answer = { status: Number(res.status), headers: lowerHeaders(res.headers as Record<string, unknown>), data: undefined };
    const raw = res.body;
    if (typeof raw === 'string') {
      if (raw !== '') {
        try {
          ans.data = JSON.parse(raw);
        } catch {
          ans.unparsable = raw;
        }
      }
    } else if (raw !== null && raw !== undefined) {
      ans.data = raw; // already parsed by the platform
    }
    const errBody = ans.data as { error?: { requestId?: string } } | undefined;
    ans.requestId = ans.headers['x-request-id'] || (errBody && errBody.error && errBody.error.requestId) || undefined;
    if (ans.status < 400 && ans.unparsable !== undefined) {
      throw new MiniappError({
        code: 'InvalidResponse',
        status: ans.status,
        requestId: ans.requestId,
        message: `the answer to ${method} ${path} is not JSON`,
      });
    }
    return ans;
  }

  /** The MiniappError of a 4xx/5xx answer. */
  private errorFrom_(ans: Answer): MiniappError {
    const body = ans.data as { error?: { code?: string; message?: string; index?: number } } | undefined;
    const e = body && typeof body === 'object' && body.error && typeof body.error.code === 'string' ? body.error : null;
    return new MiniappError({
      code: e ? (e.code as string) : 'InvalidResponse',
      message: e ? e.message || String(e.code) : `HTTP ${ans.status} without an API error body`,
      status: ans.status,
      requestId: ans.requestId,
      retryAfter: parseRetryAfter(ans.headers['retry-after'], this.serverNow_()),
      index: e ? e.index : undefined,
    });
  }
}

/** Creates a client. Nothing is sent until the first call. */
export function createClient(options: ClientOptions): MiniappClient {
  return new Client(options);
}
