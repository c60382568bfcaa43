// Storage backends for the session and the clock offset. Values are JSON strings.
import { alipayApi, wechatApi } from './transport.js';
/** Kept in this object only (lost when the process or page ends). */
export function memoryStorage() {
    const map = {};
    return {
        get: (key) => (Object.prototype.hasOwnProperty.call(map, key) ? map[key] : null),
        set: (key, value) => {
            map[key] = value;
        },
        remove: (key) => {
            delete map[key];
        },
    };
}
/** `my.getStorageSync({key})` and friends (Alipay). */
export function alipayStorage(api = alipayApi()) {
    return {
        get: (key) => {
            const res = api.getStorageSync({ key });
            return res && typeof res.data === 'string' ? res.data : null;
        },
        set: (key, value) => {
            api.setStorageSync({ key, data: value });
        },
        remove: (key) => {
            api.removeStorageSync({ key });
        },
    };
}
/** `wx.getStorageSync(key)` and friends (WeChat; '' means absent). */
export function wechatStorage(api = wechatApi()) {
    return {
        get: (key) => {
            const v = api.getStorageSync(key);
            return typeof v === 'string' && v !== '' ? v : null;
        },
        set: (key, value) => {
            api.setStorageSync(key, value);
        },
        remove: (key) => {
            api.removeStorageSync(key);
        },
    };
}
function browserStorage() {
    try {
        // Reading localStorage throws where it is blocked (some private modes, sandboxed frames).
        if (typeof localStorage === 'undefined' || !localStorage)
            return undefined;
        const ls = localStorage;
        return {
            get: (key) => ls.getItem(key),
            set: (key, value) => ls.setItem(key, value),
            remove: (key) => ls.removeItem(key),
        };
    }
    catch (_a) {
        return undefined;
    }
}
/** my → wx → localStorage → memory. */
export function defaultStorage() {
    const my = alipayApi();
    if (my && typeof my.getStorageSync === 'function')
        return alipayStorage(my);
    const wx = wechatApi();
    if (wx && typeof wx.getStorageSync === 'function')
        return wechatStorage(wx);
    return browserStorage() || memoryStorage();
}
