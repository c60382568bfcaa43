// Transports: my.request (Alipay), wx.request (WeChat) and fetch, behind one function type.
import { MiniappError, NetworkError } from './errors.js';
export function alipayApi() {
    return typeof my !== 'undefined' && my ? my : undefined;
}
export function wechatApi() {
    return typeof wx !== 'undefined' && wx ? wx : undefined;
}
function globalFetch() {
    return typeof fetch !== 'undefined' ? fetch : undefined;
}
function networkError(message, timeout) {
    return new NetworkError({ code: timeout ? 'Timeout' : 'NetworkError', message, status: 0 });
}
/** `my.request`: answers carry `status`, `headers`, `data`. */
export function alipayTransport(api = alipayApi()) {
    return (req) => new Promise((resolve, reject) => {
        if (!api || typeof api.request !== 'function') {
            reject(new MiniappError({ code: 'Unsupported', message: 'my.request is not available' }));
            return;
        }
        api.request({
            url: req.url,
            method: req.method,
            headers: req.headers,
            data: req.body,
            // Text: the client parses JSON itself; `data` may still arrive parsed on old base libraries.
            dataType: 'text',
            timeout: req.timeoutMs,
            success: (res) => resolve({ status: res.status, headers: res.headers || {}, body: res.data }),
            fail: (res) => {
                // Some base libraries report 4xx/5xx through fail (error 19) with the answer attached.
                if (res && typeof res.status === 'number' && res.status >= 100 && (res.data !== undefined || res.headers)) {
                    resolve({ status: res.status, headers: res.headers || {}, body: res.data });
                    return;
                }
                const code = res && res.error;
                const text = (res && (res.errorMessage || res.errMsg)) || 'request failed';
                reject(networkError(`my.request failed (error ${code}): ${text}`, code === 13));
            },
        });
    });
}
/** `wx.request`: answers carry `statusCode`, `header`, `data`. */
export function wechatTransport(api = wechatApi()) {
    return (req) => new Promise((resolve, reject) => {
        if (!api || typeof api.request !== 'function') {
            reject(new MiniappError({ code: 'Unsupported', message: 'wx.request is not available' }));
            return;
        }
        api.request({
            url: req.url,
            method: req.method,
            header: req.headers,
            data: req.body,
            // Anything but 'json' turns WeChat's own JSON.parse off.
            dataType: 'text',
            responseType: 'text',
            timeout: req.timeoutMs,
            success: (res) => resolve({ status: res.statusCode, headers: res.header || {}, body: res.data }),
            fail: (res) => {
                const text = (res && res.errMsg) || 'request:fail';
                reject(networkError(`wx.request failed: ${text}`, /timeout/i.test(text)));
            },
        });
    });
}
/** The standard `fetch` (browsers, Node.js 18+). */
export function fetchTransport(fetchImpl = globalFetch()) {
    return async (req) => {
        if (typeof fetchImpl !== 'function') {
            throw new MiniappError({ code: 'Unsupported', message: 'fetch is not available' });
        }
        const controller = typeof AbortController !== 'undefined' ? new AbortController() : undefined;
        let timedOut = false;
        let timer;
        const timeout = new Promise((_, reject) => {
            timer = setTimeout(() => {
                timedOut = true;
                if (controller)
                    controller.abort();
                reject(networkError(`no answer within ${req.timeoutMs} ms`, true));
            }, req.timeoutMs);
        });
        const exchange = (async () => {
            const res = await fetchImpl(req.url, {
                method: req.method,
                headers: req.headers,
                body: req.body,
                signal: controller && controller.signal,
            });
            const body = await res.text();
            const headers = {};
            res.headers.forEach((value, name) => {
                headers[name] = value;
            });
            return { status: res.status, headers, body };
        })();
        try {
            return await Promise.race([exchange, timeout]);
        }
        catch (err) {
            if (err instanceof MiniappError)
                throw err;
            const message = err instanceof Error ? err.message : String(err);
            throw networkError(`fetch failed: ${message}`, timedOut);
        }
        finally {
            clearTimeout(timer);
            // The losing promise must not surface as an unhandled rejection.
            exchange.catch(() => undefined);
            timeout.catch(() => undefined);
        }
    };
}
/** The transport an option names, or the first available: my → wx → fetch. */
export function resolveTransport(option) {
    if (typeof option === 'function')
        return { name: 'custom', send: option };
    const name = option || (alipayApi() ? 'alipay' : wechatApi() ? 'wechat' : 'fetch');
    if (name === 'alipay')
        return { name, send: alipayTransport() };
    if (name === 'wechat')
        return { name, send: wechatTransport() };
    if (name === 'fetch')
        return { name, send: fetchTransport() };
    throw new MiniappError({ code: 'InvalidArgument', message: `unknown transport ${String(name)}` });
}
