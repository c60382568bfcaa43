// Request signing exactly as shared/src/signing.rs verifies it (CONTRACT.md §6).
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { MiniappError } from './errors.js';
import { isUtf8, utf8Encode } from './utf8.js';
/** The scheme: first word of `Authorization`, first line of the string to sign. */
export const ALGORITHM = 'MINIAPP-HMAC-SHA256';
const HEX = '0123456789ABCDEF';
function isUnreserved(b) {
    return ((b >= 0x41 && b <= 0x5a) || // A-Z
        (b >= 0x61 && b <= 0x7a) || // a-z
        (b >= 0x30 && b <= 0x39) || // 0-9
        b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e // - . _ ~
    );
}
/** RFC 3986 encoding of bytes: unreserved characters kept, everything else `%XX` upper case. */
function encodeBytes(bytes) {
    let out = '';
    for (let i = 0; i < bytes.length; i++) {
        const b = bytes[i];
        out += isUnreserved(b) ? String.fromCharCode(b) : '%' + HEX[b >> 4] + HEX[b & 15];
    }
    return out;
}
/** RFC 3986 encoding of a string's UTF-8 bytes: how the client writes query values. */
export function encodeRfc3986(s) {
    return encodeBytes(utf8Encode(s));
}
function hexVal(b) {
    if (b >= 0x30 && b <= 0x39)
        return b - 0x30;
    if (b >= 0x41 && b <= 0x46)
        return b - 0x41 + 10;
    if (b >= 0x61 && b <= 0x66)
        return b - 0x61 + 10;
    return -1;
}
function invalidQuery(piece, why) {
    return new MiniappError({
        code: 'InvalidQuery',
        message: `query piece ${JSON.stringify(piece.slice(0, 64))} ${why}`,
    });
}
/** Strict percent-decoding to bytes: `%` must start two hex digits; `+` stays `+`. */
function percentDecode(piece) {
    const bytes = utf8Encode(piece);
    const out = [];
    for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] !== 0x25) {
            out.push(bytes[i]);
            continue;
        }
        const hi = i + 1 < bytes.length ? hexVal(bytes[i + 1]) : -1;
        const lo = i + 2 < bytes.length ? hexVal(bytes[i + 2]) : -1;
        if (hi < 0 || lo < 0)
            throw invalidQuery(piece, 'has a malformed percent-escape');
        out.push((hi << 4) | lo);
        i += 2;
    }
    const decoded = new Uint8Array(out);
    if (!isUtf8(decoded))
        throw invalidQuery(piece, 'does not decode to UTF-8');
    return decoded;
}
/**
 * The canonical query of a raw query string (without `?`): split on `&`, skip empty pieces,
 * split at the first `=`, percent-decode (`+` literal), re-encode, sort by key then value.
 * Throws a MiniappError `InvalidQuery` where the server would answer 400 `InvalidQuery`.
 */
export function canonicalQuery(raw) {
    const pairs = [];
    for (const piece of raw.split('&')) {
        if (piece === '')
            continue;
        const eq = piece.indexOf('=');
        const k = eq < 0 ? piece : piece.slice(0, eq);
        const v = eq < 0 ? '' : piece.slice(eq + 1);
        pairs.push([encodeBytes(percentDecode(k)), encodeBytes(percentDecode(v))]);
    }
    // Encoded strings are ASCII, so UTF-16 comparison is byte order.
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    return pairs.map((p) => p[0] + '=' + p[1]).join('&');
}
function bytesOf(data) {
    return typeof data === 'string' ? utf8Encode(data) : data;
}
/** Lower-case hex SHA-256 (a string is hashed as UTF-8). */
export function sha256Hex(data) {
    return bytesToHex(sha256(bytesOf(data)));
}
/** Lower-case hex HMAC-SHA256 under the UTF-8 bytes of `key`. */
export function hmacSha256Hex(key, message) {
    return bytesToHex(hmac(sha256, utf8Encode(key), bytesOf(message)));
}
/** `YYYYMMDDTHHMMSSZ` (UTC) of a time in ms since the epoch. */
export function formatDate(ms) {
    // toISOString: 2026-11-25T14:36:40.000Z
    const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString();
    return iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
}
/** Parses `YYYYMMDDTHHMMSSZ` into ms since the epoch, or NaN. */
export function parseDate(s) {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m)
        return NaN;
    return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}
/** The six lines joined by `\n`; `method` and `path` exactly as sent. */
export function stringToSign(date, method, path, canonical, body) {
    return [ALGORITHM, date, method, path, canonical, sha256Hex(body)].join('\n');
}
/** Signs a request as the server will verify it. */
export function signRequest(creds, req) {
    const sts = stringToSign(req.date, req.method, req.path, canonicalQuery(req.query === undefined ? '' : req.query), req.body === undefined ? '' : req.body);
    const signature = hmacSha256Hex(creds.accessKeySecret, sts);
    return {
        authorization: `${ALGORITHM} Credential=${creds.accessKeyId}, Signature=${signature}`,
        'x-miniapp-date': req.date,
        'x-miniapp-security-token': creds.securityToken,
    };
}
