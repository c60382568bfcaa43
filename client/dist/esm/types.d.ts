/** Every `error.code` the API answers with (CONTRACT.md §3). */
export type ErrorCode = 'InvalidRequest' | 'InvalidJson' | 'InvalidCollection' | 'InvalidId' | 'InvalidQuery' | 'ProviderNotConfigured' | 'MissingAuthorization' | 'InvalidAuthorization' | 'InvalidSecurityToken' | 'CredentialsExpired' | 'RequestExpired' | 'SignatureDoesNotMatch' | 'SessionRevoked' | 'SessionExpired' | 'AuthCodeInvalid' | 'NotFound' | 'RouteNotFound' | 'MethodNotAllowed' | 'AccountDeleting' | 'PreconditionFailed' | 'PayloadTooLarge' | 'UriTooLong' | 'HeadersTooLarge' | 'TooManyRequests' | 'UpstreamError' | 'UpstreamSignatureInvalid' | 'StorageUnavailable' | 'UpstreamTimeout' | 'UpstreamBusy' | 'FileTooLarge' | 'UnsupportedFileType' | 'FileQuotaExceeded' | 'FileRejected' | 'InternalError';
/** The body of every error answer. */
export interface ErrorBody {
    error: {
        code: ErrorCode;
        message: string;
        requestId: string;
    };
}
/** Short-lived signing credentials (STS style). `expiration` is RFC 3339 UTC. */
export interface Credentials {
    /** Starts with `STS.`; sent as `Credential=` in `Authorization`. */
    accessKeyId: string;
    /** Signs requests; never sent to the server again. */
    accessKeySecret: string;
    /** Sent as `x-miniapp-security-token`. */
    securityToken: string;
    expiration: string;
}
/** `POST /session` (201) and `POST /session/refresh` (200). */
export interface SessionResponse {
    sessionId: string;
    userId: string;
    /** When the session ends (RFC 3339 UTC); a refresh never extends it. */
    expiresAt: string;
    credentials: Credentials;
}
/** `GET /session` (200). */
export interface SessionInfo {
    sessionId: string;
    userId: string;
    expiresAt: string;
    createdAt: string;
}
/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
/** A JSON object: what an item's `data` is. */
export interface JsonObject {
    [key: string]: JsonValue;
}
/** A stored item (CONTRACT.md §5). Its version is also its ETag (`"<version>"`). */
export interface Item<T extends object = JsonObject> {
    id: string;
    /** 1 when created, +1 on every write. */
    version: number;
    createdAt: string;
    updatedAt: string;
    data: T;
}
/** `GET /db/{collection}`: one page of items, ordered by id. */
export interface Page<T extends object = JsonObject> {
    items: Item<T>[];
    /** `null` exactly when nothing follows. */
    nextCursor: string | null;
}
/** A file (docs/api.md §9). `url` (a short-lived download) is present exactly when ready. */
export interface FileInfo {
    id: string;
    name: string;
    contentType: string;
    size: number;
    status: 'pending' | 'ready';
    createdAt: string;
    url?: string;
}
/** `GET /files`. */
export interface FilePage {
    items: FileInfo[];
    nextCursor: string | null;
}
/** `POST /files` (201). */
export interface CreatedFile {
    id: string;
    upload: {
        url: string;
        method: 'POST';
        fields: Record<string, string>;
        fileField: string;
    };
    put: {
        url: string;
        method: 'PUT';
        headers: Record<string, string>;
    };
    expiresAt: string;
}
