// Starts the real `klinivo serve` on the embedded PostgreSQL, in a throwaway data directory, and
// runs CLI commands beside it (they join its database through the same KLINIVO_DATA_DIR).
import { spawn } from 'node:child_process';
import { mkdtempSync, chmodSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** The binary under test: KLINIVO_BIN, else the debug build in CARGO_TARGET_DIR (or ./target). */
export function binaryPath() {
  if (process.env.KLINIVO_BIN) return resolve(process.env.KLINIVO_BIN);
  const target = process.env.CARGO_TARGET_DIR || join(repoRoot, 'target');
  return resolve(repoRoot, target, 'debug', 'klinivo');
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const KEY_RE = /kv_[0-9A-Za-z]{42}/;
const LINK_RE = /https?:\/\/\S+?\/console\/set-password\/[^\s"'<>]+/;

// Servers still running when the process ends (a crashed test) are stopped all the same, so that no
// embedded PostgreSQL outlives the suite.
const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
});

/**
 * Starts the server. Resolves once /readyz answers 200 and the demo key and the demo owner's
 * set-password link have been printed.
 */
export async function startServer({ env = {}, readyTimeoutMs = 180_000 } = {}) {
  const bin = binaryPath();
  if (!existsSync(bin)) {
    throw new Error(`no klinivo binary at ${bin}: build it (cargo build --bin klinivo) or set KLINIVO_BIN`);
  }
  // As root the embedded PostgreSQL runs as another user, which must reach the data directory.
  const work = mkdtempSync(join(tmpdir(), 'klinivo-e2e-'));
  chmodSync(work, 0o755);
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const serverEnv = {
    ...process.env,
    KLINIVO_DATA_DIR: join(work, 'data'),
    KLINIVO_BIND: `127.0.0.1:${port}`,
    KLINIVO_PUBLIC_URL: baseUrl,
    KLINIVO_WEBHOOK_ALLOW_PRIVATE: 'true',
    KLINIVO_WEBHOOK_RETRY_UNIT_MS: '300',
    KLINIVO_WEBHOOK_TIMEOUT_MS: '5000',
    KLINIVO_RATE_LIMIT_PER_MINUTE: '100000',
    KLINIVO_LOG_FORMAT: 'pretty',
    RUST_LOG: process.env.KLINIVO_E2E_RUST_LOG || 'warn',
    NO_COLOR: '1',
    ...env,
  };
  delete serverEnv.DATABASE_URL;

  const child = spawn(bin, ['serve'], { cwd: work, env: serverEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  let exited = null;
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => {
    stderr += d;
    if (process.env.KLINIVO_E2E_VERBOSE) process.stderr.write(d);
  });
  const exitPromise = new Promise((r) => child.on('exit', (code, signal) => {
    exited = { code, signal };
    running.delete(child);
    r(exited);
  }));

  const server = {
    baseUrl,
    port,
    work,
    env: serverEnv,
    get stdout() { return stdout; },
    get stderr() { return stderr; },
    demoKey: null,
    setPasswordLink: null,
    /** Runs `klinivo ARGS…` beside the server; resolves to its trimmed stdout, rejects on failure. */
    cli(args, { timeoutMs = 120_000 } = {}) {
      return runCli(bin, args, { cwd: work, env: serverEnv, timeoutMs });
    },
    /** SIGTERM, then SIGKILL after 40 s; removes the data directory. */
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 40_000);
        await exitPromise;
        clearTimeout(timer);
      }
      if (!process.env.KLINIVO_E2E_KEEP) rmSync(work, { recursive: true, force: true });
      // What went wrong on the server's side, beside the tests' own report.
      const trouble = stderr.split('\n').filter((l) => /panicked|\bERROR\b/.test(l));
      if (trouble.length && !process.env.KLINIVO_E2E_VERBOSE) {
        process.stderr.write(`klinivo serve logged ${trouble.length} error line(s):\n${trouble.slice(-20).join('\n')}\n`);
      }
      return exited;
    },
  };

  const deadline = Date.now() + readyTimeoutMs;
  let readyAt = null;
  for (;;) {
    if (exited) {
      throw new Error(`klinivo serve exited (${JSON.stringify(exited)}) before it was ready; stderr:\n${stderr}`);
    }
    let ready = false;
    try {
      const res = await fetch(`${baseUrl}/readyz`);
      ready = res.status === 200;
    } catch { /* not listening yet */ }
    const key = stdout.match(KEY_RE);
    const link = stderr.match(LINK_RE);
    if (ready && key && link) {
      server.demoKey = key[0];
      server.setPasswordLink = link[0];
      return server;
    }
    // Ready with its key printed: the link comes on the same start, or never.
    if (ready && key && !readyAt) readyAt = Date.now();
    if (readyAt && Date.now() - readyAt > 5_000) {
      await server.stop();
      throw new Error(`klinivo serve printed no set-password link (/console/set-password/…) on stderr:\n${stderr}`);
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(
        `klinivo serve not ready after ${readyTimeoutMs} ms (ready=${ready}, key=${!!key}, set-password link=${!!link});\n` +
        `stdout:\n${stdout}\nstderr:\n${stderr}`,
      );
    }
    await sleep(200);
  }
}

export function runCli(bin, args, { cwd, env, timeoutMs = 120_000 }) {
  return new Promise((ok, fail) => {
    const child = spawn(bin, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) ok(out.trim());
      else fail(new Error(`klinivo ${args.join(' ')} failed (${code ?? signal}):\n${err}`));
    });
  });
}

/** Calls the public API with a key. */
export async function api(server, key, method, path, body) {
  const headers = { 'X-API-Key': key };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${server.baseUrl}/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}
