// Builds dist/ from src/: tsc (ES2017 ESM + .d.ts), an esbuild CommonJS bundle for require()
// and Mini Program npm builds, and one minified ESM bundle for browsers and Mini Programs.
// @noble/hashes is inlined in both bundles. dist/ is committed: keep this deterministic.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const banner = `/*! ${pkg.name} ${pkg.version} | ${pkg.license} | includes @noble/hashes (MIT, Paul Miller) */`;

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });

const common = {
  entryPoints: [join(root, 'src/index.ts')],
  bundle: true,
  target: 'es2017',
  platform: 'neutral',
  mainFields: ['module', 'main'],
  legalComments: 'none',
  banner: { js: banner },
  logLevel: 'warning',
};
await build({ ...common, format: 'cjs', outfile: join(dist, 'cjs/index.js') });
writeFileSync(join(dist, 'cjs/package.json'), '{\n  "type": "commonjs"\n}\n');
writeFileSync(join(dist, 'cjs/index.d.ts'), "export * from '../esm/index.js';\n");
// Private members end in `_` (see src/client.ts, src/db.ts): safe to shorten in the minified file.
await build({ ...common, format: 'esm', minify: true, mangleProps: /[^_]_$/, outfile: join(dist, 'miniapp-client.min.js') });

const min = readFileSync(join(dist, 'miniapp-client.min.js'));
const gz = gzipSync(min, { level: 9 }).length;
console.log(`dist/miniapp-client.min.js: ${min.length} bytes minified, ${gz} bytes gzipped`);
