import type { ApiResponse, Db, RequestOptions } from './api.js';
type Send = (method: string, path: string, options?: RequestOptions) => Promise<ApiResponse>;
/** RFC 7396 JSON Merge Patch. */
export declare function mergePatch(target: unknown, patch: unknown): unknown;
export declare function createDb(send: Send, patchMode: 'native' | 'emulate'): Db;
export {};
