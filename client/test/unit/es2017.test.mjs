// Every committed JavaScript file is ES2017: esbuild lowering it to es2017 changes nothing
// (it would rewrite object spread, optional chaining, async generators, class fields, ...).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { transformSync } from 'esbuild';

const dist = new URL('../../dist/', import.meta.url);
const files = [
  ...readdirSync(new URL('esm/', dist)).filter((f) => f.endsWith('.js')).map((f) => `esm/${f}`),
  'cjs/index.js',
  'miniapp-client.min.js',
];

for (const f of files) {
  test(`dist/${f} has no syntax above ES2017`, () => {
    const code = readFileSync(new URL(f, dist), 'utf8');
    const at = (target) => transformSync(code, { target, loader: 'js', legalComments: 'inline' }).code;
    assert.equal(at('es2017'), at('esnext'));
  });
}

test('the lowering check notices newer syntax', () => {
  const code = 'const a = { ...b }; let c = x?.y;';
  const at = (target) => transformSync(code, { target, loader: 'js' }).code;
  assert.notEqual(at('es2017'), at('esnext'));
});
