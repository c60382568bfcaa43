import type { TransportFn, TransportOption } from './api.js';
/** A platform API object (`my`, `wx`) or undefined. */
type Api = any;
export declare function alipayApi(): Api;
export declare function wechatApi(): Api;
/** `my.request`: answers carry `status`, `headers`, `data`. */
export declare function alipayTransport(api?: Api): TransportFn;
/** `wx.request`: answers carry `statusCode`, `header`, `data`. */
export declare function wechatTransport(api?: Api): TransportFn;
/** The standard `fetch` (browsers, Node.js 18+). */
export declare function fetchTransport(fetchImpl?: Api): TransportFn;
/** A transport and its name (the name decides how update() sends PATCH). */
export interface ResolvedTransport {
    name: 'alipay' | 'wechat' | 'fetch' | 'custom';
    send: TransportFn;
}
/** The transport an option names, or the first available: my → wx → fetch. */
export declare function resolveTransport(option: TransportOption | undefined): ResolvedTransport;
export {};
