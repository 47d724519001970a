// The peer bench/run measures beside the bare Rust server: Express 5 + node-postgres answering
// the same one-SELECT of a patient by primary key (GET /select/:id), as a well-run Node service
// would: one worker process per core (node:cluster), a warm pool per worker, and the statement
// prepared once per connection (a named query). No authentication, like the bare /select.
//
//   DATABASE_URL  the PostgreSQL (required)
//   BENCH_BIND    host:port (default 127.0.0.1:8091)
//   BENCH_ORG     organization id (default: the first organization)
//   BENCH_POOL    connections per worker (default: 16 / workers, at least 2)
//   BENCH_WORKERS worker processes (default: one per core)
'use strict';

const cluster = require('node:cluster');
const os = require('node:os');

const workers = Number(process.env.BENCH_WORKERS || os.availableParallelism());

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  let ready = 0;
  cluster.on('message', (_, msg) => {
    if (msg === 'ready' && ++ready === workers) console.error(`express peer: ${workers} workers listening`);
  });
  cluster.on('exit', (w, code) => {
    if (code !== 0 && !shuttingDown) {
      console.error(`express peer: worker ${w.process.pid} exited with ${code}`);
      process.exit(1);
    }
  });
  let shuttingDown = false;
  const stop = () => {
    shuttingDown = true;
    for (const w of Object.values(cluster.workers)) w.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  worker().catch((e) => {
    console.error('express peer:', e.message);
    process.exit(1);
  });
}

async function worker() {
  const express = require('express');
  const { Pool, types } = require('pg');
  // `date` as the 'YYYY-MM-DD' text PostgreSQL sends, as Klinivo answers it (not a local Date).
  types.setTypeParser(1082, (v) => v);

  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is required');
  const [host, port] = (process.env.BENCH_BIND || '127.0.0.1:8091').split(':');
  const size = Number(process.env.BENCH_POOL || Math.max(2, Math.floor(16 / workers)));
  const pool = new Pool({ connectionString: url, max: size, min: size, idleTimeoutMillis: 0 });

  const org =
    process.env.BENCH_ORG ||
    (await pool.query('SELECT id FROM organizations ORDER BY created_at LIMIT 1')).rows[0].id;

  // Warm: open every connection of the pool before the first request.
  const held = await Promise.all(Array.from({ length: size }, () => pool.connect()));
  held.forEach((c) => c.release());

  const select = {
    name: 'patient_by_id',
    text:
      'SELECT id, external_id, first_name, last_name, date_of_birth, sex, email, phone, address_line1, ' +
      'address_line2, address_city, address_region, address_postal_code, address_country, created_at, updated_at ' +
      'FROM patients WHERE organization_id = $1 AND id = $2',
  };

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.get('/plain', (_req, res) => res.json({ status: 'ok' }));
  app.get('/select/:id', async (req, res) => {
    const id = Number(req.params.id);
    if (!Number.isSafeInteger(id)) return res.status(400).json({ error: 'validation_error' });
    try {
      const { rows } = await pool.query({ ...select, values: [org, id] });
      if (rows.length === 0) return res.status(404).json({ error: 'not_found', message: 'no such patient' });
      const r = rows[0];
      res.json({
        id: Number(r.id),
        externalId: r.external_id,
        firstName: r.first_name,
        lastName: r.last_name,
        dateOfBirth: r.date_of_birth,
        sex: r.sex,
        email: r.email,
        phone: r.phone,
        address: {
          line1: r.address_line1,
          line2: r.address_line2,
          city: r.address_city,
          region: r.address_region,
          postalCode: r.address_postal_code,
          country: r.address_country,
        },
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      });
    } catch (e) {
      res.status(500).json({ error: 'internal_error' });
    }
  });

  const server = app.listen(Number(port), host, () => process.send && process.send('ready'));
  process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
}
