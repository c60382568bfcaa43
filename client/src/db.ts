// The data API: collections of the signed-in user's items (CONTRACT.md §5).

import type {
  AllOptions,
  ApiResponse,
  BatchOperation,
  BatchResult,
  Collection,
  CollectionInfo,
  Db,
  ItemIterator,
  ListOptions,
  Query,
  RequestOptions,
  SetOptions,
  VersionRef,
  WhereOp,
  WriteOptions,
} from './api.js';
import { MiniappError, isMiniappError } from './errors.js';
import type { Item, JsonObject, Page } from './types.js';

type Send = (method: string, path: string, options?: RequestOptions) => Promise<ApiResponse>;

const COLLECTION = /^[A-Za-z0-9_-]{1,64}$/;
const ID = /^[A-Za-z0-9_.-]{1,128}$/;
const FIELD = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;
/** Emulated PATCH: how many lost races before giving up. */
const MAX_MERGE_TRIES = 5;

function invalid(message: string): MiniappError {
  return new MiniappError({ code: 'InvalidArgument', message });
}

function checkId(id: string): string {
  // Checked here too: a URL parser would turn /db/c/.. into /db/, which is not what was signed.
  if (typeof id !== 'string' || !ID.test(id) || id === '.' || id === '..') {
    throw invalid(`item id ${JSON.stringify(id)} must match ^[A-Za-z0-9_.-]{1,128}$ and not be . or ..`);
  }
  return encodeURIComponent(id);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `"<version>"`, or `*`. */
function etag(ref: VersionRef | '*'): string {
  if (ref === '*') return '*';
  const v = typeof ref === 'number' ? ref : ref && ref.version;
  if (typeof v !== 'number' || !isFinite(v)) throw invalid('ifMatch must be a version number, an item, or *');
  return `"${v}"`;
}

/** RFC 7396 JSON Merge Patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = Object.assign({}, isObject(target) ? target : {});
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/**
 * One `path op value` term of a `where` expression, the value as JSON. The field is checked
 * here (a space in it would change the expression); the server checks the rest (400
 * InvalidQuery).
 */
function term(field: string, op: WhereOp, value: unknown): string {
  if (!FIELD.test(field)) throw invalid(`bad where field ${field}`);
  return `${field} ${op} ${JSON.stringify(value)}`;
}

function preconditionFailed(message: string): MiniappError {
  return new MiniappError({ code: 'PreconditionFailed', status: 412, message });
}

class Items<T extends object> implements ItemIterator<T> {
  private buffer_: Item<T>[] = [];
  private cursor_: string | undefined;
  private finished_ = false;
  /** next() calls run one after another. */
  private chain_: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly list_: (o: ListOptions) => Promise<Page<T>>,
    private readonly options_: AllOptions,
  ) {
    this.cursor_ = options_.cursor;
  }

  next(): Promise<IteratorResult<Item<T>>> {
    const step = this.chain_.then(() => this.step_());
    this.chain_ = step.catch(() => undefined);
    return step;
  }

  private async step_(): Promise<IteratorResult<Item<T>>> {
    // Pages may hold fewer items than asked, even none, before the end.
    while (this.buffer_.length === 0 && !this.finished_) {
      const page = await this.list_(Object.assign({}, this.options_, { cursor: this.cursor_ }));
      this.buffer_ = page.items;
      if (page.nextCursor === null) this.finished_ = true;
      else this.cursor_ = page.nextCursor;
    }
    const item = this.buffer_.shift();
    return item === undefined ? { done: true, value: undefined } : { done: false, value: item };
  }

  return(): Promise<IteratorResult<Item<T>>> {
    this.finished_ = true;
    this.buffer_ = [];
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async forEach(fn: (item: Item<T>) => void | Promise<void>): Promise<void> {
    for (;;) {
      const r = await this.next();
      if (r.done) return;
      await fn(r.value);
    }
  }

  async toArray(): Promise<Item<T>[]> {
    const all: Item<T>[] = [];
    await this.forEach((item) => {
      all.push(item);
    });
    return all;
  }
}

// A filtered collection (`where`) is the same class with its expression: only the Query
// methods are typed on it.
class ItemCollection<T extends object> implements Collection<T>, Query<T> {
  private readonly base_: string;

  constructor(
    readonly name: string,
    private readonly send_: Send,
    private readonly patchMode_: 'native' | 'emulate',
    private readonly where_?: string,
  ) {
    if (typeof name !== 'string' || !COLLECTION.test(name)) {
      throw invalid(`collection ${JSON.stringify(name)} must match ^[A-Za-z0-9_-]{1,64}$`);
    }
    this.base_ = `/db/${encodeURIComponent(name)}`;
  }

  private data_(value: unknown, what: string): unknown {
    if (!isObject(value)) throw invalid(`${what} must be a JSON object`);
    return value;
  }

  async add(data: T): Promise<Item<T>> {
    const res = await this.send_('POST', this.base_, { body: this.data_(data, 'data') });
    return res.data as Item<T>;
  }

  async get(id: string): Promise<Item<T>> {
    const res = await this.send_('GET', `${this.base_}/${checkId(id)}`);
    return res.data as Item<T>;
  }

  async set(id: string, data: T, options: SetOptions = {}): Promise<Item<T>> {
    const headers: Record<string, string> = {};
    if (options.ifMatch !== undefined) headers['if-match'] = etag(options.ifMatch);
    if (options.ifNoneMatch !== undefined) {
      if (options.ifNoneMatch !== '*') throw invalid("ifNoneMatch must be '*'");
      headers['if-none-match'] = '*';
    }
    const res = await this.send_('PUT', `${this.base_}/${checkId(id)}`, { body: this.data_(data, 'data'), headers });
    return res.data as Item<T>;
  }

  async update(id: string, patch: object, options: WriteOptions = {}): Promise<Item<T>> {
    const path = `${this.base_}/${checkId(id)}`;
    this.data_(patch, 'patch');
    if (this.patchMode_ === 'native') {
      const headers: Record<string, string> = {};
      if (options.ifMatch !== undefined) headers['if-match'] = etag(options.ifMatch);
      const res = await this.send_('PATCH', path, { body: patch, headers });
      return res.data as Item<T>;
    }
    return this.emulatedUpdate_(id, patch, options);
  }

  /** GET, merge locally, PUT with If-Match of the version read; again when a writer raced us. */
  private async emulatedUpdate_(id: string, patch: object, options: WriteOptions): Promise<Item<T>> {
    const wanted = options.ifMatch === undefined ? undefined : etag(options.ifMatch);
    for (let i = 0; i < MAX_MERGE_TRIES; i++) {
      let current: Item<T>;
      try {
        current = await this.get(id);
      } catch (err) {
        // The server answers 412 to If-Match on an absent item (CONTRACT.md §5).
        if (wanted !== undefined && isMiniappError(err, 'NotFound')) {
          throw preconditionFailed(`item ${id} does not exist`);
        }
        throw err;
      }
      if (wanted !== undefined && wanted !== '*' && wanted !== `"${current.version}"`) {
        throw preconditionFailed(`item ${id} is at version ${current.version}, not ${wanted}`);
      }
      const merged = mergePatch(current.data, patch) as T;
      try {
        return await this.set(id, merged, { ifMatch: current.version });
      } catch (err) {
        if (wanted === undefined && isMiniappError(err, 'PreconditionFailed')) continue;
        throw err;
      }
    }
    throw preconditionFailed(`item ${id} kept changing: ${MAX_MERGE_TRIES} updates lost the race`);
  }

  async remove(id: string, options: WriteOptions = {}): Promise<void> {
    const headers: Record<string, string> = {};
    if (options.ifMatch !== undefined) headers['if-match'] = etag(options.ifMatch);
    await this.send_('DELETE', `${this.base_}/${checkId(id)}`, { headers });
  }

  async list(options: ListOptions = {}): Promise<Page<T>> {
    const res = await this.send_('GET', this.base_, {
      query: { limit: options.limit, prefix: options.prefix, order: options.order, cursor: options.cursor, where: this.where_ },
    });
    return res.data as Page<T>;
  }

  where(field: string, op: WhereOp, value: unknown): Query<T> {
    const t = term(field, op, value);
    return new ItemCollection<T>(this.name, this.send_, this.patchMode_, this.where_ ? `${this.where_} AND ${t}` : t);
  }

  all(options: AllOptions = {}): ItemIterator<T> {
    return new Items<T>((o) => this.list(o), options);
  }

  [Symbol.asyncIterator](): ItemIterator<T> {
    return this.all();
  }
}

export function createDb(send: Send, patchMode: 'native' | 'emulate'): Db {
  return {
    collection<T extends object = JsonObject>(name: string): Collection<T> {
      return new ItemCollection<T>(name, send, patchMode);
    },
    async batch(operations: BatchOperation[]): Promise<BatchResult[]> {
      // Versions become entity tags; ifNoneMatch can only be '*', sent as is.
      const body = operations.map((o) =>
        o.op === 'create' || o.ifMatch === undefined ? o : Object.assign({}, o, { ifMatch: etag(o.ifMatch) }),
      );
      const res = await send('POST', '/db', { body: { operations: body } });
      return (res.data as { results: BatchResult[] }).results;
    },
    async collections(): Promise<CollectionInfo[]> {
      const all: CollectionInfo[] = [];
      let cursor: string | undefined;
      // Pages may be short, even empty, before the end.
      do {
        const page = (await send('GET', '/db', { query: { cursor } })).data as {
          collections: CollectionInfo[];
          nextCursor: string | null;
        };
        all.push(...page.collections);
        cursor = page.nextCursor || undefined;
      } while (cursor);
      return all;
    },
  };
}
