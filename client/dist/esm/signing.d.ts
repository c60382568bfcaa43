/** The scheme: first word of `Authorization`, first line of the string to sign. */
export declare const ALGORITHM = "MINIAPP-HMAC-SHA256";
/** RFC 3986 encoding of a string's UTF-8 bytes: how the client writes query values. */
export declare function encodeRfc3986(s: string): string;
/**
 * The canonical query of a raw query string (without `?`): split on `&`, skip empty pieces,
 * split at the first `=`, percent-decode (`+` literal), re-encode, sort by key then value.
 * Throws a MiniappError `InvalidQuery` where the server would answer 400 `InvalidQuery`.
 */
export declare function canonicalQuery(raw: string): string;
/** Lower-case hex SHA-256 (a string is hashed as UTF-8). */
export declare function sha256Hex(data: string | Uint8Array): string;
/** Lower-case hex HMAC-SHA256 under the UTF-8 bytes of `key`. */
export declare function hmacSha256Hex(key: string, message: string | Uint8Array): string;
/** `YYYYMMDDTHHMMSSZ` (UTC) of a time in ms since the epoch. */
export declare function formatDate(ms: number): string;
/** Parses `YYYYMMDDTHHMMSSZ` into ms since the epoch, or NaN. */
export declare function parseDate(s: string): number;
/** The six lines joined by `\n`; `method` and `path` exactly as sent. */
export declare function stringToSign(date: string, method: string, path: string, canonical: string, body: string | Uint8Array): string;
/** The three values `POST /session` returned that signing needs. */
export interface SigningCredentials {
    accessKeyId: string;
    accessKeySecret: string;
    securityToken: string;
}
export interface RequestToSign {
    method: string;
    /** As sent, still percent-encoded, without the query. */
    path: string;
    /** Raw query string without `?` (default empty). */
    query?: string;
    /** The exact body sent (default empty). */
    body?: string | Uint8Array;
    /** `YYYYMMDDTHHMMSSZ`; see formatDate. */
    date: string;
}
/** The three signing headers of a request, lower-case names. */
export interface SignedHeaders {
    authorization: string;
    'x-miniapp-date': string;
    'x-miniapp-security-token': string;
}
/** Signs a request as the server will verify it. */
export declare function signRequest(creds: SigningCredentials, req: RequestToSign): SignedHeaders;
