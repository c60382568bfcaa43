import type { LoggedOutError } from './errors.js';
import type { FileInfo, FilePage, Item, JsonObject, Page, SessionInfo } from './types.js';
/** One HTTP exchange as a transport sees it. */
export interface TransportRequest {
    method: string;
    /** Absolute URL, path and query exactly as signed. */
    url: string;
    headers: Record<string, string>;
    /** The exact string that was signed; absent for an empty body. */
    body?: string;
    timeoutMs: number;
}
/** What a transport hands back. Header names in any case; `body` text or parsed JSON. */
export interface TransportResponse {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: unknown;
}
/**
 * Sends one request. Rejects only when no HTTP answer arrived (network error, timeout): any
 * status, 4xx and 5xx included, resolves.
 */
export type TransportFn = (req: TransportRequest) => Promise<TransportResponse>;
/** Who issued the login code: Alipay (`my.getAuthCode`) or WeChat (`wx.login`). */
export type Provider = 'alipay' | 'wechat';
/** A transport chosen by name, or your own function. */
export type TransportOption = 'alipay' | 'wechat' | 'fetch' | TransportFn;
/**
 * Where the session (credentials included) and the clock offset are kept. Values are strings.
 * Methods may return promises.
 */
export interface KeyValueStorage {
    get(key: string): string | null | undefined | Promise<string | null | undefined>;
    set(key: string, value: string): void | Promise<void>;
    remove(key: string): void | Promise<void>;
}
/** Retries of idempotent requests (GET, PUT, DELETE, PATCH with If-Match). */
export interface RetryOptions {
    /** Attempts in all, the first included (default 3; 1 = no retries). */
    attempts?: number;
    /** First backoff (default 200 ms), doubled each retry, with jitter. */
    baseDelayMs?: number;
    /** Longest backoff (default 2000 ms). */
    maxDelayMs?: number;
    /** A `Retry-After` longer than this is not waited for: the error is thrown (default 10 s). */
    maxRetryAfterMs?: number;
}
export interface ClientOptions {
    /** The API's base URL, e.g. `https://api.example.com` or `http://127.0.0.1:3000`. */
    baseUrl: string;
    /** Default: `my.request` if `my` exists, else `wx.request`, else `fetch`. */
    transport?: TransportOption;
    /** Default: my/wx storage in Mini Programs, `localStorage` in browsers, else memory. */
    storage?: KeyValueStorage;
    /** Prefix of the storage keys (default `miniapp`). */
    storageKey?: string;
    /** Milliseconds since the epoch (default `Date.now`). */
    now?: () => number;
    /** Called once when the session ended (expired, revoked); the call then rejects too. */
    onLoggedOut?: (err: LoggedOutError) => void;
    /**
     * Whose login codes `login()` sends: `'alipay'` (`{"authCode"}`) or `'wechat'`
     * (`{"provider": "wechat", "code"}`). Default: `'alipay'` where `my` exists, else `'wechat'`
     * where `wx` exists, else `'alipay'`.
     */
    provider?: Provider;
    /**
     * Where `login()` without a code gets one (default: `my.getAuthCode` on Alipay, `wx.login`
     * on WeChat).
     */
    getAuthCode?: () => Promise<string>;
    /** Retry settings, or `false` for none. */
    retry?: RetryOptions | false;
    /** Refresh credentials when fewer than this many ms of validity remain (default 60000). */
    refreshMarginMs?: number;
    /** Per-attempt timeout (default 15000 ms). */
    timeoutMs?: number;
    /**
     * How `update()` sends a JSON Merge Patch: `'native'` (HTTP PATCH) or `'emulate'` (GET, merge
     * locally, PUT with If-Match, again on a lost race). Default: `'emulate'` on the `alipay` and
     * `wechat` transports (neither `my.request` nor `wx.request` can send PATCH), else `'native'`.
     */
    patch?: 'native' | 'emulate';
}
/** The signed-in session as kept on the device (no secrets). */
export interface SessionState {
    sessionId: string;
    userId: string;
    /** When the session ends (RFC 3339). */
    expiresAt: string;
    /** When the current credentials expire (RFC 3339); refreshed automatically. */
    credentialsExpireAt: string;
}
/** A version number, or an item (its version is used). */
export type VersionRef = number | {
    version: number;
};
export interface SetOptions {
    /** Replace only if the item is at this version (`'*'`: only if it exists). */
    ifMatch?: VersionRef | '*';
    /** `'*'`: create only, fail with PreconditionFailed if the id exists. */
    ifNoneMatch?: '*';
}
export interface WriteOptions {
    /** Only if the item is at this version (`'*'`: only if it exists). */
    ifMatch?: VersionRef | '*';
}
export interface ListOptions {
    /** Only ids starting with this. */
    prefix?: string;
    /** By id, `asc` (default) or `desc`. */
    order?: 'asc' | 'desc';
    /** Page size, 1..100 (server default 20). */
    limit?: number;
    /** `nextCursor` of the previous page. */
    cursor?: string;
}
/** Options of `all()`: a `cursor` starts mid-way. */
export type AllOptions = ListOptions;
/** An async iterator that also works without `for await` (call `next()`, or `forEach`). */
export interface ItemIterator<T extends object> extends AsyncIterableIterator<Item<T>> {
    /** Calls `fn` for every item in order; resolves after the last one. */
    forEach(fn: (item: Item<T>) => void | Promise<void>): Promise<void>;
    /** Every remaining item in an array. */
    toArray(): Promise<Item<T>[]>;
}
/** An operator of `where` (docs/api.md §4.5). */
export type WhereOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'exists';
/**
 * A filtered listing: `collection.where('done', '==', false)`; chain `where` for AND. Pages
 * may be short, even empty, before the end (the server reads at most 200 items per page):
 * `all()` follows them for you.
 */
export interface Query<T extends object = JsonObject> {
    /** One more term (AND). `field` is a dotted path into the data, e.g. `owner.name`. */
    where(field: string, op: WhereOp, value: unknown): Query<T>;
    /** One page. */
    list(options?: ListOptions): Promise<Page<T>>;
    /** Every matching item, page after page. */
    all(options?: AllOptions): ItemIterator<T>;
    [Symbol.asyncIterator](): ItemIterator<T>;
}
/** A collection of the signed-in user's items. */
export interface Collection<T extends object = JsonObject> {
    readonly name: string;
    /** Only the items whose data match (docs/api.md §4.5). */
    where(field: string, op: WhereOp, value: unknown): Query<T>;
    /** POST: a new item with a new time-ordered id (201). */
    add(data: T): Promise<Item<T>>;
    /** GET: the item; rejects with code `NotFound` when absent. */
    get(id: string): Promise<Item<T>>;
    /** PUT: create or replace. */
    set(id: string, data: T, options?: SetOptions): Promise<Item<T>>;
    /** JSON Merge Patch (RFC 7396): `null` removes a field. */
    update(id: string, patch: Partial<Record<keyof T, unknown>> | JsonObject, options?: WriteOptions): Promise<Item<T>>;
    /** DELETE. */
    remove(id: string, options?: WriteOptions): Promise<void>;
    /** One page. */
    list(options?: ListOptions): Promise<Page<T>>;
    /** Every item, page after page (fetched as you go). */
    all(options?: AllOptions): ItemIterator<T>;
    /** `for await (const item of collection)`: same as `all()`. */
    [Symbol.asyncIterator](): ItemIterator<T>;
}
/** One write of `db.batch` (docs/api.md §4.6). */
export type BatchOperation = {
    op: 'create';
    collection: string;
    data: JsonObject;
} | {
    op: 'put';
    collection: string;
    id: string;
    data: JsonObject;
    ifMatch?: VersionRef | '*';
    ifNoneMatch?: '*';
} | {
    op: 'patch';
    collection: string;
    id: string;
    patch: JsonObject;
    ifMatch?: VersionRef | '*';
} | {
    op: 'delete';
    collection: string;
    id: string;
    ifMatch?: VersionRef | '*';
};
/** What one operation of a batch did: the item written, or `deleted`. */
export interface BatchResult {
    op: BatchOperation['op'];
    collection: string;
    id: string;
    item?: Item;
    deleted?: true;
}
/** One of the user's collections (`GET /db`). */
export interface CollectionInfo {
    name: string;
    /** Its items, counted exactly when asked. */
    count: number;
}
export interface Db {
    collection<T extends object = JsonObject>(name: string): Collection<T>;
    /**
     * POST /db: up to 25 writes, all or nothing. When one cannot happen nothing is written and
     * the call rejects with its error (e.g. `PreconditionFailed`) whose `index` names it.
     */
    batch(operations: BatchOperation[]): Promise<BatchResult[]>;
    /** GET /db, every page: the user's collections with at least one item, by name. */
    collections(): Promise<CollectionInfo[]>;
}
/** How an account deletion stands (`DELETE /account`). */
export interface AccountDeletion {
    /** `deleting` while work remains (progress), `deleted` once done. */
    status: 'deleting' | 'deleted';
    /** Where a deletion under way is. */
    step?: 'settling' | 'items' | 'files';
    /** Items deleted by the calls so far. */
    itemsDeleted: number;
}
export interface DeleteAccountOptions {
    /** Called after each call that left work (status `deleting`). */
    onProgress?: (progress: AccountDeletion) => void;
    /**
     * Most calls (default 100; each works up to 5 s). When they run out, `delete()` resolves with
     * status `deleting`: call it again.
     */
    maxCalls?: number;
}
export interface Account {
    /**
     * DELETE /account, again and again until done: every item, file and session of the user
     * (all devices are logged out). Resolves with status `deleted` and forgets the session. If
     * a call's answer is lost after the last step, the next is rejected with `SessionRevoked`
     * (a LoggedOutError): the deletion is done then too.
     */
    delete(options?: DeleteAccountOptions): Promise<AccountDeletion>;
}
/** What `files.upload()` sends. */
export interface FileSource {
    /** The name kept with the file (sanitised by the server). */
    name: string;
    /** One of the server's allowed types, e.g. `image/png`. */
    contentType: string;
    /** Mini Programs: a local file path (`my.chooseImage`, `wx.chooseMedia`); `size` is then required. */
    filePath?: string;
    /** Browsers and Node.js: the bytes. */
    blob?: {
        size: number;
    };
    /** Bytes (default: `blob.size`). */
    size?: number;
}
export interface FileListOptions {
    /** Page size, 1..100 (server default 20). */
    limit?: number;
    /** `nextCursor` of the previous page. */
    cursor?: string;
}
/** The signed-in user's files (docs/api.md §9). */
export interface Files {
    /** POST /files, the upload straight to storage, then GET /files/{id}: the file, `ready`. */
    upload(source: FileSource): Promise<FileInfo>;
    /** GET /files/{id}. */
    get(id: string): Promise<FileInfo>;
    /** A short-lived download URL; rejects with `FileNotReady` while the upload is pending. */
    url(id: string): Promise<string>;
    /** DELETE /files/{id}. */
    remove(id: string): Promise<void>;
    /** One page of files, oldest first. */
    list(options?: FileListOptions): Promise<FilePage>;
}
/** A signed call of any route, for what the typed API does not cover. */
export interface RequestOptions {
    /** Query parameters (encoded and signed by the client). */
    query?: Record<string, string | number | undefined>;
    /** JSON body: an object is serialised with JSON.stringify, a string is sent as is. */
    body?: unknown;
    /** Extra headers (e.g. `If-Match`). */
    headers?: Record<string, string>;
    /** Retry on 503/504/network errors (default: true for GET, PUT, DELETE, else false). */
    idempotent?: boolean;
}
export interface ApiResponse<T = unknown> {
    status: number;
    /** Lower-case names. */
    headers: Record<string, string>;
    /** Parsed JSON, or `undefined` for an empty body. */
    data: T;
    requestId?: string;
}
export interface MiniappClient {
    /** Signs in: POST /session with the code (default: from `getAuthCode`, `my` or `wx`). */
    login(authCode?: string): Promise<SessionState>;
    /** Signs out: DELETE /session, then forgets the session (even when the server refuses). */
    logout(): Promise<void>;
    /** The session kept on this device, or `null`; no network. */
    session(): Promise<SessionState | null>;
    /** GET /session: the server's view of the session. */
    fetchSession(): Promise<SessionInfo>;
    /** New credentials for the same session now (normally automatic). */
    refresh(): Promise<SessionState>;
    /** Per-user data. */
    db: Db;
    /** The user's account. */
    account: Account;
    /** Per-user files. */
    files: Files;
    /** Any signed call. */
    request<T = unknown>(method: string, path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
    /** Server time minus local time, in ms, as learnt from the server (0 until known). */
    clockOffset(): number;
    /** Sets that offset (kept in memory and storage). */
    setClockOffset(ms: number): Promise<void>;
}
