// A webhook receiver on 127.0.0.1: records every request and answers with the next planned
// status (then 200 for ever).
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';

export async function startReceiver({ statuses = [] } = {}) {
  const plan = [...statuses];
  const requests = [];
  const waiters = new Set();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      // A path with /always-500 in it always fails (dead letters); others follow the plan.
      const status = req.url.includes('/always-500') ? 500 : (plan.length ? plan.shift() : 200);
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method, url: req.url, headers: req.headers, body, status, at: new Date() });
      res.writeHead(status, { 'Content-Type': 'text/plain' });
      res.end(status < 300 ? 'ok' : 'try again');
      for (const w of waiters) w();
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/hooks/klinivo`,
    requests,
    /** Answers the next requests with these statuses. */
    plan(...next) { plan.push(...next); },
    /** Resolves with the requests matching `pred` once there are at least `count` of them. */
    waitFor(pred, { count = 1, timeoutMs = 20_000 } = {}) {
      return new Promise((ok, fail) => {
        const check = () => {
          const hits = requests.filter(pred);
          if (hits.length >= count) {
            waiters.delete(check);
            clearTimeout(timer);
            ok(hits);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          fail(new Error(`receiver: ${requests.filter(pred).length} of ${count} expected requests after ${timeoutMs} ms ` +
            `(${requests.length} received in all)`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close() { return new Promise((ok) => { server.closeAllConnections?.(); server.close(() => ok()); }); },
  };
}

/** Checks `X-Klinivo-Signature: t=…,v1=…` (HMAC-SHA256 of `t.body`, keyed with the secret as given). */
export function signatureValid(request, secret) {
  const header = request.headers['x-klinivo-signature'] || '';
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2)));
  if (!parts.t || !parts.v1) return false;
  const expected = createHmac('sha256', secret).update(`${parts.t}.${request.body}`).digest();
  const got = Buffer.from(parts.v1, 'hex');
  return got.length === expected.length && timingSafeEqual(got, expected);
}
