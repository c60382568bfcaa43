// @miniapp/client: the JavaScript SDK of miniapp.
export { createClient } from './client.js';
export { MiniappError, LoggedOutError, NetworkError, isMiniappError } from './errors.js';
export { FileUploadError } from './files.js';
export { ALGORITHM, canonicalQuery, encodeRfc3986, formatDate, hmacSha256Hex, parseDate, sha256Hex, signRequest, stringToSign, } from './signing.js';
export { alipayTransport, fetchTransport, wechatTransport } from './transport.js';
export { alipayStorage, memoryStorage, wechatStorage } from './storage.js';
export { mergePatch } from './db.js';
