// Files (docs/api.md §9): POST /files signs an upload, the bytes go straight to storage with
// my.uploadFile (Alipay), wx.uploadFile (WeChat) or fetch + FormData, GET /files/{id} confirms.
import { MiniappError, NetworkError } from './errors.js';
import { alipayApi, wechatApi } from './transport.js';
/** Storage refused the upload; `code` is S3's (`AccessDenied`, `EntityTooLarge`, ...). */
export class FileUploadError extends MiniappError {
    constructor(status, body) {
        const text = typeof body === 'string' ? body : '';
        const tag = (name) => (new RegExp(`<${name}>([^<]*)</${name}>`).exec(text) || [])[1];
        super({ code: tag('Code') || 'UploadFailed', message: tag('Message') || `upload answered ${status}`, status });
        this.name = 'FileUploadError';
    }
}
function checkId(id) {
    if (!/^[0-9a-f-]{36}$/.test(id))
        throw new MiniappError({ code: 'InvalidArgument', message: `not a file id: ${id}` });
    return id;
}
/** Alipay's `fileType`: only image, video and audio exist. */
function alipayType(contentType) {
    const main = contentType.split('/')[0];
    return main === 'video' || main === 'audio' ? main : 'image';
}
/** The platform's upload call, as a promise of (status, body). */
function platformUpload(name, url, fields, field, src) {
    return new Promise((resolve, reject) => {
        const fail = (res) => reject(new NetworkError({ code: 'NetworkError', message: `upload failed: ${(res && (res.errorMessage || res.errMsg)) || 'error'}`, status: 0 }));
        const done = (res) => resolve([res.statusCode || res.status, res.data]);
        if (name === 'alipay') {
            alipayApi().uploadFile({ url, filePath: src.filePath, fileName: field, fileType: alipayType(src.contentType), formData: fields, success: done, fail });
        }
        else {
            wechatApi().uploadFile({ url, filePath: src.filePath, name: field, formData: fields, success: done, fail });
        }
    });
}
async function fetchUpload(url, fields, field, src) {
    const form = new FormData();
    for (const k of Object.keys(fields))
        form.append(k, fields[k]);
    form.append(field, src.blob, src.name);
    try {
        const res = await fetch(url, { method: 'POST', body: form });
        return [res.status, await res.text()];
    }
    catch (err) {
        throw new NetworkError({ code: 'NetworkError', message: `upload failed: ${err instanceof Error ? err.message : String(err)}`, status: 0 });
    }
}
export function createFiles(send, baseUrl, transport) {
    const absolute = (url) => (url.charAt(0) === '/' ? baseUrl + url : url);
    const get = async (id) => (await send('GET', `/files/${checkId(id)}`)).data;
    return {
        async upload(src) {
            const size = src.size !== undefined ? src.size : src.blob && src.blob.size;
            const created = (await send('POST', '/files', { body: { name: src.name, contentType: src.contentType, size } })).data;
            const up = created.upload;
            const [status, body] = src.filePath
                ? await platformUpload(transport, absolute(up.url), up.fields, up.fileField, src)
                : await fetchUpload(absolute(up.url), up.fields, up.fileField, src);
            if (status < 200 || status > 299)
                throw new FileUploadError(status, body);
            return get(created.id);
        },
        get,
        async url(id) {
            const info = await get(id);
            if (!info.url)
                throw new MiniappError({ code: 'FileNotReady', message: `file ${id} is ${info.status}` });
            return absolute(info.url);
        },
        async remove(id) {
            await send('DELETE', `/files/${checkId(id)}`);
        },
        async list(options = {}) {
            const page = (await send('GET', '/files', { query: { limit: options.limit, cursor: options.cursor } })).data;
            for (const f of page.items)
                if (f.url)
                    f.url = absolute(f.url);
            return page;
        },
    };
}
