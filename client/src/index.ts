// @miniapp/client: the JavaScript SDK of miniapp.

export { createClient } from './client.js';
export { MiniappError, LoggedOutError, NetworkError, isMiniappError } from './errors.js';
export { FileUploadError } from './files.js';
export type { AnyErrorCode, ClientErrorCode, MiniappErrorInit } from './errors.js';
export type {
  Credentials,
  ErrorBody,
  CreatedFile,
  ErrorCode,
  FileInfo,
  FilePage,
  Item,
  JsonObject,
  JsonValue,
  Page,
  SessionInfo,
  SessionResponse,
} from './types.js';
export type {
  Account,
  AccountDeletion,
  AllOptions,
  ApiResponse,
  BatchOperation,
  BatchResult,
  ClientOptions,
  Collection,
  CollectionInfo,
  Db,
  DeleteAccountOptions,
  FileListOptions,
  FileSource,
  Files,
  ItemIterator,
  KeyValueStorage,
  ListOptions,
  MiniappClient,
  Provider,
  Query,
  RequestOptions,
  RetryOptions,
  SessionState,
  SetOptions,
  TransportFn,
  TransportOption,
  TransportRequest,
  TransportResponse,
  VersionRef,
  WhereOp,
  WriteOptions,
} from './api.js';
export {
  ALGORITHM,
  canonicalQuery,
  encodeRfc3986,
  formatDate,
  hmacSha256Hex,
  parseDate,
  sha256Hex,
  signRequest,
  stringToSign,
} from './signing.js';
export type { RequestToSign, SignedHeaders, SigningCredentials } from './signing.js';
export { alipayTransport, fetchTransport, wechatTransport } from './transport.js';
export { alipayStorage, memoryStorage, wechatStorage } from './storage.js';
export { mergePatch } from './db.js';
