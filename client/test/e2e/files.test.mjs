// End to end: files through a real `miniapp dev` (the local file backend, served by its front)
// with the SDK in Node: fetch + FormData, and the Alipay and WeChat upload calls of Mini
// Program stand-ins that send the real multipart POST; download, listing, isolation, deletion.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { FileUploadError, MiniappError, createClient, memoryStorage } from '../../dist/esm/index.js';
import { fakeMy, fakeWx } from '../support/platforms.mjs';
import { startDev } from '../support/processes.mjs';

/** A 1×1 PNG. */
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
    '1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082',
  'hex',
);

/** `uploadFile` of a Mini Program stand-in: a real multipart POST of the "temp file" the path names. */
function withUploads(fake, files) {
  fake.uploadFile = (opts) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(opts.formData || {})) form.append(k, v);
    form.append(opts.fileName || opts.name, new Blob([files[opts.filePath]]), 'tmp');
    fetch(opts.url, { method: 'POST', body: form }).then(
      async (r) => opts.success({ statusCode: r.status, data: await r.text() }),
      (e) => opts.fail({ errMsg: `uploadFile:fail ${e.message}`, errorMessage: e.message }),
    );
  };
  return fake;
}

describe('files through miniapp dev', () => {
  let dev;

  before(async () => {
    dev = await startDev({});
  });

  after(async () => {
    if (dev) assert.equal(await dev.stop(), 0);
  });

  test('fetch + FormData: upload, ready, download, list, isolation, remove', async () => {
    const alice = createClient({ baseUrl: dev.url, transport: 'fetch', storage: memoryStorage() });
    await alice.login('dev-alice');
    const file = await alice.files.upload({ blob: new Blob([PNG], { type: 'image/png' }), name: 'dot.png', contentType: 'image/png' });
    assert.equal(file.status, 'ready');
    assert.equal(file.size, PNG.length);
    const url = await alice.files.url(file.id);
    assert.ok(url.startsWith(dev.url), url);
    const got = await fetch(url);
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), PNG);
    const page = await alice.files.list();
    assert.deepEqual(page.items.map((f) => f.id), [file.id]);

    const bob = createClient({ baseUrl: dev.url, transport: 'fetch', storage: memoryStorage() });
    await bob.login('dev-bob');
    await assert.rejects(bob.files.get(file.id), (e) => e instanceof MiniappError && e.code === 'NotFound');
    await assert.rejects(bob.files.remove(file.id), (e) => e.code === 'NotFound');
    assert.deepEqual((await bob.files.list()).items, []);

    await alice.files.remove(file.id);
    await assert.rejects(alice.files.get(file.id), (e) => e.code === 'NotFound');
    assert.equal((await fetch(url)).status, 404);
  });

  test('limits come back as the API codes and S3-style upload errors', async () => {
    const c = createClient({ baseUrl: dev.url, transport: 'fetch', storage: memoryStorage() });
    await c.login('dev-user-limits');
    await assert.rejects(
      c.files.upload({ blob: new Blob(['<p>']), name: 'x.html', contentType: 'text/html' }),
      (e) => e.code === 'UnsupportedFileType' && e.status === 415,
    );
    await assert.rejects(
      c.files.upload({ blob: new Blob([PNG]), name: 'big.png', contentType: 'image/png', size: 30 * 1024 * 1024 }),
      (e) => e.code === 'FileTooLarge' && e.status === 413,
    );
    // Declares less than it sends: storage refuses, in S3's words.
    await assert.rejects(
      c.files.upload({ blob: new Blob([PNG]), name: 'lie.png', contentType: 'image/png', size: 10 }),
      (e) => e instanceof FileUploadError && e.code === 'EntityTooLarge' && e.status === 400,
    );
  });

  for (const [platform, make, code] of [
    ['Alipay my.uploadFile', () => fakeMy({ authCode: 'dev-user-myup' }), 'my'],
    ['WeChat wx.uploadFile', () => fakeWx({ loginCode: 'dev-wx-up' }), 'wx'],
  ]) {
    test(`${platform}: the Mini Program upload reaches storage`, async (t) => {
      const fake = withUploads(make(), { 'tmp/photo.png': PNG });
      globalThis[code] = fake;
      t.after(() => {
        delete globalThis[code];
      });
      const client = createClient({ baseUrl: dev.url });
      await client.login();
      const file = await client.files.upload({ filePath: 'tmp/photo.png', name: 'photo.png', contentType: 'image/png', size: PNG.length });
      assert.equal(file.status, 'ready');
      const got = await fetch(await client.files.url(file.id));
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), PNG);
    });
  }
});
