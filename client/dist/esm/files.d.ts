import type { ApiResponse, Files, RequestOptions } from './api.js';
import { MiniappError } from './errors.js';
type Send = (method: string, path: string, options?: RequestOptions) => Promise<ApiResponse>;
/** Storage refused the upload; `code` is S3's (`AccessDenied`, `EntityTooLarge`, ...). */
export declare class FileUploadError extends MiniappError {
    constructor(status: number, body: unknown);
}
export declare function createFiles(send: Send, baseUrl: string, transport: string): Files;
export {};
