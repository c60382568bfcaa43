// The signer agrees byte for byte with shared/tests/fixtures/signing/vectors.json, which the
// Rust verifier's tests (shared/tests/signing_props.rs) read too: in every build of the SDK.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';

import * as esm from '../../dist/esm/index.js';
import * as min from '../../dist/miniapp-client.min.js';

const cjs = createRequire(import.meta.url)('../../dist/cjs/index.js');
const vectors = JSON.parse(readFileSync(new URL('../../../shared/tests/fixtures/signing/vectors.json', import.meta.url), 'utf8'));

for (const [build, sdk] of Object.entries({ esm, cjs, min })) {
  describe(`signing vectors (${build} build)`, () => {
    test('the file has cases', () => {
      assert.ok(vectors.cases.length >= 9);
      assert.equal(vectors.algorithm, sdk.ALGORITHM);
    });
    for (const v of vectors.cases) {
      test(v.name, () => {
        assert.equal(sdk.canonicalQuery(v.query), v.canonical_query, 'canonical_query');
        assert.equal(sdk.sha256Hex(v.body), v.body_sha256, 'body_sha256');
        const sts = sdk.stringToSign(v.date, v.method, v.path, v.canonical_query, v.body);
        assert.equal(sts, v.string_to_sign, 'string_to_sign');
        assert.equal(sdk.hmacSha256Hex(v.secret, sts), v.signature, 'signature');
        const creds = { accessKeyId: v.access_key_id, accessKeySecret: v.secret, securityToken: 'token-of-' + v.name };
        const h = sdk.signRequest(creds, { method: v.method, path: v.path, query: v.query, body: v.body, date: v.date });
        assert.equal(h.authorization, v.authorization, 'authorization');
        assert.equal(h['x-miniapp-date'], v.date);
        assert.equal(h['x-miniapp-security-token'], creds.securityToken);
        assert.equal(sdk.formatDate(sdk.parseDate(v.date)), v.date, 'date round trip');
      });
    }
    for (const bad of vectors.invalid_queries) {
      test(`invalid query ${JSON.stringify(bad.query)} (${bad.reason})`, () => {
        assert.throws(() => sdk.canonicalQuery(bad.query), (e) => e instanceof sdk.MiniappError && e.code === 'InvalidQuery');
      });
    }
  });
}

describe('canonical query, the Rust unit test table', () => {
  // shared/src/signing.rs `canonical_query_examples`, plus the refusals of `malformed_queries_are_refused`.
  const ok = [
    ['', ''],
    ['&&', ''],
    ['b=2&a=1', 'a=1&b=2'],
    ['a=2&a=10&a=1', 'a=1&a=10&a=2'],
    ['a=1&&b=', 'a=1&b='],
    ['flag', 'flag='],
    ['flag&x=y=z', 'flag=&x=y%3Dz'],
    ['q=a+b', 'q=a%2Bb'],
    ['q=a%20b', 'q=a%20b'],
    ['a=%41', 'a=A'],
    ['a=%7e%2d', 'a=~-'],
    ['k=%e4%bd%a0', 'k=%E4%BD%A0'],
    ['k=你', 'k=%E4%BD%A0'],
    ['k=é😀', 'k=%C3%A9%F0%9F%98%80'],
    ["r=:/?#[]@!$'()*,;", 'r=%3A%2F%3F%23%5B%5D%40%21%24%27%28%29%2A%2C%3B'],
    ['%3D=%26', '%3D=%26'],
    ['limit=20&prefix=a', 'limit=20&prefix=a'],
    ['b=1&%61=1&~=1&A=1&_=1', 'A=1&_=1&a=1&b=1&~=1'],
    ['z=1&a%20b=2', 'a%20b=2&z=1'],
  ];
  for (const [raw, want] of ok) {
    test(JSON.stringify(raw), () => assert.equal(esm.canonicalQuery(raw), want));
  }
  for (const raw of ['a=%zz', 'a=%', 'a=%4', '%g0=1', 'a=1&b=%2', 'a=%ff', 'a=%C3%28', '%80', 'a=%ED%A0%80', 'a=%C0%AF', 'a=%F4%90%80%80']) {
    test(`refuses ${JSON.stringify(raw)}`, () => {
      assert.throws(() => esm.canonicalQuery(raw), (e) => e.code === 'InvalidQuery');
    });
  }
});

test('encodeRfc3986 writes what canonicalQuery keeps', () => {
  for (const s of ['plain', 'a b+c/d', '名前', 'x=y&z', "~-._!*'()", '😀']) {
    const q = `k=${esm.encodeRfc3986(s)}`;
    assert.equal(esm.canonicalQuery(q), q);
  }
  // A lone surrogate is sent (and signed) as U+FFFD, as fetch does.
  assert.equal(esm.encodeRfc3986('\ud800'), '%EF%BF%BD');
});

test('formatDate is UTC basic ISO 8601 with whole seconds', () => {
  assert.equal(esm.formatDate(Date.UTC(2026, 10, 25, 14, 36, 40, 999)), '20261125T143640Z');
  assert.equal(esm.formatDate(0), '19700101T000000Z');
  assert.ok(Number.isNaN(esm.parseDate('2026-11-25T14:36:40Z')));
});
