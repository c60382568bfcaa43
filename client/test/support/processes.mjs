// Real servers for the end-to-end tests: `miniapp dev` (the repository's template, the real
// session and db binaries) and moto (DynamoDB-compatible), on OS-chosen loopback ports.
// Every process started here is stopped by stop(), and killed at exit whatever happened.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(repoRoot, process.env.CARGO_TARGET_DIR) : join(repoRoot, 'target');
export const binDir = join(targetDir, 'debug');

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Follows a stream line by line, keeping the last lines for error messages. */
function follow(stream, tail, onLine) {
  createInterface({ input: stream }).on('line', (line) => {
    tail.push(line);
    if (tail.length > 60) tail.shift();
    if (onLine) onLine(line);
  });
}

function waitFor(child, what, tail, timeoutMs, setup) {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => fail(new Error(`${what}: not ready within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${err.message}\n--- last lines ---\n${tail.join('\n')}`));
    };
    child.once('exit', (code, signal) => fail(new Error(`${what} exited early (${code ?? signal})`)));
    child.once('error', fail);
    setup((value) => {
      clearTimeout(timer);
      resolvePromise(value);
    });
  });
}

async function stopChild(child, signal, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) {
    running.delete(child);
    return child.exitCode;
  }
  const exited = new Promise((r) => child.once('exit', (code) => r(code)));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  running.delete(child);
  return code;
}

/** moto with one request at a time (scripts/moto_serial.py), as the Rust tests run it. */
export async function startMoto() {
  const venv = process.env.MINIAPP_VENV || join(homedir(), '.cache/miniapp/venv');
  const python = join(venv, 'bin/python');
  if (!existsSync(python)) throw new Error(`no ${python}: run bash scripts/ensure-venv.sh`);
  const child = spawn(python, [join(repoRoot, 'scripts/moto_serial.py'), '-H', '127.0.0.1', '-p', '0'], {
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const tail = [];
  const url = await waitFor(child, 'moto', tail, 60000, (done) => {
    const onLine = (line) => {
      const m = /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (m) done(m[1]);
    };
    follow(child.stdout, tail, onLine);
    follow(child.stderr, tail, onLine);
  });
  child.removeAllListeners('exit');
  return { url, stop: () => stopChild(child, 'SIGTERM', 5000) };
}

/**
 * `miniapp dev --port 0` with a fresh state folder and the prebuilt binaries. `env` adds
 * variables (e.g. AWS_ENDPOINT_URL_DYNAMODB, MINIAPP_CREDENTIAL_TTL_SECS).
 */
export async function startDev(env = {}) {
  const miniapp = join(binDir, 'miniapp');
  for (const bin of ['miniapp', 'session', 'db']) {
    if (!existsSync(join(binDir, bin))) {
      throw new Error(`no ${join(binDir, bin)}: run cargo build --bin miniapp --bin session --bin db`);
    }
  }
  const state = mkdtempSync(join(tmpdir(), 'miniapp-client-e2e-'));
  const clean = { ...process.env };
  for (const v of Object.keys(clean)) {
    if (/^(AWS_ENDPOINT_URL|ALIPAY_|MINIAPP_)/.test(v)) delete clean[v];
  }
  const args = ['dev', '--port', '0', '--template', join(repoRoot, 'template.yaml'), '--state-dir', join(state, '.miniapp'), '--bin-dir', binDir, '--quiet'];
  const child = spawn(miniapp, args, { cwd: state, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const tail = [];
  follow(child.stderr, tail);
  const url = await waitFor(child, 'miniapp dev', tail, 120000, (done) => {
    let api = '';
    follow(child.stdout, tail, (line) => {
      const m = /^\s*API\s+(\S+)/.exec(line);
      if (m) api = m[1];
      if (line.startsWith('Ctrl-C stops')) done(api);
    });
  });
  child.removeAllListeners('exit');
  return {
    url,
    output: () => tail.join('\n'),
    /** Ctrl-C; resolves to the exit code (0 expected). */
    stop: async () => {
      const code = await stopChild(child, 'SIGINT', 15000);
      rmSync(state, { recursive: true, force: true });
      return code;
    },
  };
}
