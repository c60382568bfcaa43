import type { KeyValueStorage } from './api.js';
type Api = any;
/** Kept in this object only (lost when the process or page ends). */
export declare function memoryStorage(): KeyValueStorage;
/** `my.getStorageSync({key})` and friends (Alipay). */
export declare function alipayStorage(api?: Api): KeyValueStorage;
/** `wx.getStorageSync(key)` and friends (WeChat; '' means absent). */
export declare function wechatStorage(api?: Api): KeyValueStorage;
/** my → wx → localStorage → memory. */
export declare function defaultStorage(): KeyValueStorage;
export {};
