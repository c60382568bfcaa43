// files.upload() on each platform: the exact my.uploadFile / wx.uploadFile arguments, relative
// upload URLs resolved against baseUrl, S3-style refusals surfaced as FileUploadError. The
// session calls go to test/support/fake-api.mjs; the /files calls are answered here.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as esm from '../../dist/esm/index.js';
import * as min from '../../dist/miniapp-client.min.js';
import { FakeApi } from '../support/fake-api.mjs';
import { fakeMy, fakeWx } from '../support/platforms.mjs';

const ID = '0192f3c4-1111-7000-8000-000000000001';
const FIELDS = { key: `users/abc/${ID}`, 'Content-Type': 'image/png', policy: 'cG9saWN5', 'x-miniapp-signature': 'f00d' };
const READY = { id: ID, name: 'p.png', contentType: 'image/png', size: 67, status: 'ready', createdAt: '2026-12-02T04:00:00Z', url: `/files/_download/users/abc/${ID}?x=1` };

/** Answers the /files routes in the platform's shape; the rest goes to the fake API. */
function withFiles(fake, shape) {
  const calls = [];
  const request = fake.request.bind(fake);
  fake.request = (opts) => {
    if (!/\/files/.test(opts.url)) return request(opts);
    calls.push({ method: opts.method, url: opts.url, body: opts.data });
    const data =
      opts.method === 'POST'
        ? { id: ID, upload: { url: '/files/_upload', method: 'POST', fields: FIELDS, fileField: 'file' }, put: { url: '/x', method: 'PUT', headers: {} }, expiresAt: '2026-12-02T04:15:00Z' }
        : READY;
    const status = opts.method === 'POST' ? 201 : 200;
    const res = shape === 'my' ? { status, headers: { 'Content-Type': 'application/json' }, data: JSON.stringify(data) } : { statusCode: status, header: { 'Content-Type': 'application/json' }, data: JSON.stringify(data) };
    setTimeout(() => opts.success(res), 0);
  };
  fake.uploads = [];
  fake.uploadAnswer = { statusCode: 204, data: '' };
  fake.uploadFile = (opts) => {
    fake.uploads.push(opts);
    setTimeout(() => opts.success(fake.uploadAnswer), 0);
  };
  return calls;
}

async function start(t, name, fake) {
  globalThis[name] = fake;
  t.after(() => {
    delete globalThis[name];
  });
  const api = await new FakeApi().start();
  t.after(() => api.stop());
  return api;
}

const withoutCallbacks = (opts) => Object.fromEntries(Object.entries(opts).filter(([, v]) => typeof v !== 'function'));

for (const [build, sdk] of Object.entries({ esm, min })) {
  describe(`files (${build} build)`, () => {
    test('Alipay: my.uploadFile with fileName, fileType and formData', async (t) => {
      const my = fakeMy({ authCode: 'dev-alice' });
      const calls = withFiles(my, 'my');
      const api = await start(t, 'my', my);
      const client = sdk.createClient({ baseUrl: api.url });
      await client.login();
      const file = await client.files.upload({ filePath: 'https://resource/apml1.png', name: 'p.png', contentType: 'image/png', size: 67 });
      assert.equal(file.status, 'ready');
      assert.deepEqual(JSON.parse(calls[0].body), { name: 'p.png', contentType: 'image/png', size: 67 });
      assert.deepEqual(withoutCallbacks(my.uploads[0]), {
        url: `${api.url}/files/_upload`,
        filePath: 'https://resource/apml1.png',
        fileName: 'file',
        fileType: 'image',
        formData: FIELDS,
      });
      assert.equal(await client.files.url(ID), `${api.url}${READY.url}`);
      assert.deepEqual(calls.map((c) => `${c.method} ${c.url.slice(api.url.length)}`), [
        'POST /files',
        `GET /files/${ID}`,
        `GET /files/${ID}`,
      ]);
    });

    test('WeChat: wx.uploadFile with name and formData; refusals are FileUploadError', async (t) => {
      const wx = fakeWx({ loginCode: 'dev-wx-carol' });
      withFiles(wx, 'wx');
      const api = await start(t, 'wx', wx);
      const client = sdk.createClient({ baseUrl: api.url });
      await client.login();
      await client.files.upload({ filePath: 'wxfile://tmp_1.png', name: 'p.png', contentType: 'image/png', size: 67 });
      assert.deepEqual(withoutCallbacks(wx.uploads[0]), {
        url: `${api.url}/files/_upload`,
        filePath: 'wxfile://tmp_1.png',
        name: 'file',
        formData: FIELDS,
      });
      wx.uploadAnswer = { statusCode: 400, data: '<?xml version="1.0"?><Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum allowed size</Message></Error>' };
      let err;
      try {
        await client.files.upload({ filePath: 'wxfile://big.png', name: 'big.png', contentType: 'image/png', size: 1 });
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof sdk.FileUploadError && err instanceof sdk.MiniappError, String(err));
      assert.equal(err.code, 'EntityTooLarge');
      assert.equal(err.status, 400);
      assert.match(err.message, /exceeds/);
    });

    test('bad ids are refused before sending', async (t) => {
      const my = fakeMy();
      const calls = withFiles(my, 'my');
      const api = await start(t, 'my', my);
      const client = sdk.createClient({ baseUrl: api.url });
      await client.login('dev-alice');
      for (const call of [() => client.files.get('../x'), () => client.files.remove('a/b')]) {
        await assert.rejects(call(), (e) => e.code === 'InvalidArgument');
      }
      assert.equal(calls.length, 0);
    });
  });
}
