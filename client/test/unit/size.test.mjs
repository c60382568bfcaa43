// The browser bundle stays small, and client/README.md states its real size.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';

const min = readFileSync(new URL('../../dist/miniapp-client.min.js', import.meta.url));
const gz = gzipSync(min, { level: 9 }).length;

// 10 KiB until the data and files features (batches, where, collections, account deletion,
// files: +1.1 KB together); 11.5 KiB since. A Mini Program package is 2 MB per subpackage.
test('the minified bundle is at most 11.5 KiB gzipped', () => {
  assert.ok(gz <= 11.5 * 1024, `${gz} bytes gzipped`);
});

test('README states the bundle size', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const m = /\*\*([\d,]+) bytes minified, ([\d,]+) bytes gzipped\*\*/.exec(readme);
  assert.ok(m, 'no size line in README.md');
  const num = (s) => Number(s.replace(/,/g, ''));
  assert.equal(num(m[1]), min.length, 'minified size in README.md');
  // zlib builds may differ by a few bytes between Node.js versions.
  assert.ok(Math.abs(num(m[2]) - gz) <= 50, `README says ${m[2]} gzipped, the build is ${gz}`);
});
