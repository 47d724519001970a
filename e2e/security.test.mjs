// What the console refuses: forms posted without their CSRF token or from another origin, and an
// admin of another organization looking at the first one's keys, webhooks and audit log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import {
  OWNER_EMAIL, launchBrowser, newConsoleContext, setPassword, signIn, rowCells, csrfToken, assertCsp,
} from './lib/console.mjs';

const OTHER_EMAIL = 'admin@other.klinivo.test';

let server;
let receiver;
let browser;
let owner; // { context, pages }
let page;
let other;
const state = {};

before(async () => {
  receiver = await startReceiver();
  server = await startServer();
  browser = await launchBrowser();
  owner = await newConsoleContext(browser, server);
  page = await owner.context.newPage();
  await setPassword(page, server.setPasswordLink);
  await signIn(page, OWNER_EMAIL);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await receiver?.close();
});

function needs(t, ...names) {
  const missing = names.filter((n) => state[n] === undefined);
  if (missing.length) t.skip(`an earlier step failed (no ${missing.join(', ')})`);
  return missing.length === 0;
}

async function keyNames(p) {
  await p.goto('/console/keys');
  const rows = p.locator('tr[data-key-prefix]');
  const names = [];
  for (let i = 0; i < await rows.count(); i++) names.push((await rowCells(rows.nth(i))).Name);
  return names;
}

test('a form submitted without its csrf field is refused with 403 and changes nothing', async () => {
  await page.goto('/console/keys/new');
  await page.getByLabel('Name', { exact: true }).fill('E2E forged in the page');
  await page.getByLabel('READ_PATIENTS', { exact: true }).check();
  const removed = await page.evaluate(() => {
    const inputs = [...document.querySelectorAll('form input[name=csrf]')];
    inputs.forEach((i) => i.remove());
    return inputs.length;
  });
  assert.ok(removed >= 1, 'the form had a csrf field');
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/console/keys'),
    page.getByRole('button', { name: 'Create API key', exact: true }).click(),
  ]);
  assert.equal(response.status(), 403);
  await page.getByRole('heading', { level: 1, name: 'Request refused' }).waitFor();
  assert.equal(await page.locator('code#secret').count(), 0);
  assert.ok(!(await keyNames(page)).includes('E2E forged in the page'));
});

test('posts without the token, with a wrong one, or from another origin are refused', async () => {
  await page.goto('/console/keys/new');
  const token = await csrfToken(page);
  const form = { name: 'E2E forged by request', permissions: 'READ_PATIENTS' };
  const origin = server.baseUrl;
  const cases = [
    ['no token', { form, headers: { Origin: origin } }],
    ['a wrong token', { form: { ...form, csrf: `${token.slice(0, -2)}xx` }, headers: { Origin: origin } }],
    ['a foreign Origin', { form: { ...form, csrf: token }, headers: { Origin: 'https://evil.example' } }],
  ];
  for (const [what, options] of cases) {
    const res = await page.request.post('/console/keys', { ...options, maxRedirects: 0 });
    assert.equal(res.status(), 403, `${what}: ${res.status()}`);
    assert.match(await res.text(), /<h1[^>]*>\s*Request refused\s*<\/h1>/, what);
  }
  // Signing out needs the token too.
  const out = await page.request.post('/console/sign-out', { form: { x: '' }, headers: { Origin: origin }, maxRedirects: 0 });
  assert.equal(out.status(), 403);
  const names = await keyNames(page);
  assert.equal(new URL(page.url()).pathname, '/console/keys', 'still signed in');
  assert.ok(!names.includes('E2E forged by request'));
});

test('repeated failed sign-ins to one account are throttled with 429, other accounts are not', async () => {
  const other = await newConsoleContext(browser, server);
  try {
    const p = await other.context.newPage();
    const attempt = async () => {
      await p.goto('/console/sign-in');
      await p.getByLabel('Email', { exact: true }).fill('nobody@demo.klinivo.test');
      await p.getByLabel('Password', { exact: true }).fill('a wrong password, again');
      const [response] = await Promise.all([
        p.waitForResponse((r) => r.request().method() === 'POST'),
        p.getByRole('button', { name: 'Sign in', exact: true }).click(),
      ]);
      return response.status();
    };
    for (let i = 0; i < 5; i++) assert.equal(await attempt(), 401, `attempt ${i + 1}`);
    assert.equal(await attempt(), 429);
    await p.getByRole('alert').filter({ hasText: 'Too many sign-in attempts' }).waitFor();
    // The owner, from the same address, still signs in.
    await signIn(p, OWNER_EMAIL);
  } finally {
    await other.context.close();
  }
});

test('the first organization has a key, a webhook with a delivery', async () => {
  // A key made in the console.
  await page.goto('/console/keys/new');
  await page.getByLabel('Name', { exact: true }).fill('E2E first org key');
  await page.getByLabel('READ_PROVIDERS', { exact: true }).check();
  await page.getByLabel('MANAGE_WEBHOOKS', { exact: true }).check();
  await page.getByRole('button', { name: 'Create API key', exact: true }).click();
  state.key = (await page.locator('code#secret').textContent()).trim();
  state.prefix = state.key.slice(0, 11);
  await page.goto('/console/keys');
  const revokeHref = await page.locator(`tr[data-key-prefix="${state.prefix}"]`)
    .getByRole('link', { name: /^Revoke\b/ }).getAttribute('href');
  state.keyId = Number(revokeHref.match(/\/console\/keys\/(\d+)\/revoke/)[1]);

  // A webhook with one delivery, made through the API with that key.
  const hook = await api(server, state.key, 'POST', '/webhooks', { url: receiver.url, events: ['patient.created'] });
  assert.equal(hook.status, 201, hook.text);
  state.webhookId = hook.json.id;
  assert.equal((await api(server, state.key, 'POST', `/webhooks/${state.webhookId}/test`)).status < 300, true);
  await receiver.waitFor((r) => r.headers['x-klinivo-event'] === 'webhook.test');
  const deliveries = await api(server, state.key, 'GET', `/webhooks/${state.webhookId}/deliveries`);
  state.deliveryId = deliveries.json.data[0].id;
  const detail = await page.goto(`/console/webhooks/${state.webhookId}/deliveries/${state.deliveryId}`);
  assert.equal(detail.status(), 200);
});

test('the CLI creates a second organization and its admin', async () => {
  const org = await server.cli(['org', 'create', '--name', 'Other Clinic']);
  assert.match(org, /^[0-9a-f-]{36}$/);
  const link = await server.cli(['user', 'create', '--org', org, '--email', OTHER_EMAIL, '--role', 'admin']);
  assert.ok(link.startsWith(`${server.baseUrl}/console/set-password/`), link);
  other = await newConsoleContext(browser, server);
  const p = await other.context.newPage();
  await setPassword(p, link);
  await signIn(p, OTHER_EMAIL);
  state.otherPage = p;
});

test('an admin of another organization sees none of the first one\'s keys', async (t) => {
  if (!needs(t, 'otherPage', 'prefix', 'keyId')) return;
  const p = state.otherPage;
  await p.goto('/console/keys');
  const html = await p.content();
  for (const prefix of [state.prefix, server.demoKey.slice(0, 11)]) {
    assert.ok(!html.includes(prefix), `the other organization's key list shows ${prefix}`);
  }
  assert.equal((await p.goto(`/console/keys/${state.keyId}/revoke`)).status(), 404);
  assert.equal((await p.goto(`/console/keys/${state.keyId}/rotate`)).status(), 404);
  // Posting the revocation with a valid token of its own session does nothing either.
  await p.goto('/console/keys/new');
  const token = await csrfToken(p);
  const res = await p.request.post(`/console/keys/${state.keyId}/revoke`, {
    form: { csrf: token }, headers: { Origin: server.baseUrl }, maxRedirects: 0,
  });
  assert.equal(res.status(), 404);
  assert.equal((await api(server, state.key, 'GET', '/health')).status, 200, 'the key still works');
});

test('an admin of another organization sees none of the first one\'s webhooks', async (t) => {
  if (!needs(t, 'otherPage', 'webhookId', 'deliveryId')) return;
  const p = state.otherPage;
  await p.goto('/console/webhooks');
  assert.ok(!(await p.content()).includes(receiver.url), 'the other organization\'s webhook list shows the URL');
  assert.equal(await p.locator(`tr[data-webhook-id="${state.webhookId}"]`).count(), 0);
  assert.equal((await p.goto(`/console/webhooks/${state.webhookId}`)).status(), 404);
  assert.equal((await p.goto(`/console/webhooks/${state.webhookId}/deliveries/${state.deliveryId}`)).status(), 404);
});

test('an admin of another organization sees none of the first one\'s audit log, and no users page', async (t) => {
  if (!needs(t, 'otherPage')) return;
  // An audited read by the first organization's key.
  const list = await api(server, server.demoKey, 'GET', '/patients?limit=1');
  assert.equal((await api(server, server.demoKey, 'GET', `/patients/${list.json.data[0].id}`)).status, 200);
  const p = state.otherPage;
  await new Promise((r) => setTimeout(r, 2000)); // the audit log is written in batches
  const audit = await p.goto(`/console/audit?keyPrefix=${server.demoKey.slice(0, 11)}`);
  assert.equal(audit.status(), 200);
  assert.equal(await p.locator('tbody tr').filter({ hasText: server.demoKey.slice(0, 11) }).count(), 0);
  await p.goto('/console/audit');
  assert.equal(await p.locator('tbody tr').filter({ hasText: 'kv_' }).count(), 0, 'no key of any organization appears');
  assert.equal((await p.goto('/console/users')).status(), 403);
});

test('no console page shows a demo patient\'s name', async () => {
  const res = await api(server, server.demoKey, 'GET', '/patients?limit=100');
  assert.equal(res.status, 200);
  const names = res.json.data.map((pt) => `${pt.firstName} ${pt.lastName}`);
  assert.ok(names.length > 10);
  for (const path of ['/console/keys', '/console/keys/new', '/console/webhooks', '/console/webhooks/new',
    `/console/webhooks/${state.webhookId}`, '/console/audit', '/console/users', '/console/account']) {
    await page.goto(path);
  }
  for (const { url, body } of [...owner.pages, ...(other?.pages ?? [])]) {
    for (const name of names) assert.ok(!body.includes(name), `${url} shows ${name}`);
  }
});

test('every field of every console page has a label', async (t) => {
  if (!needs(t, 'webhookId', 'deliveryId', 'keyId')) return;
  const paths = ['/console/keys', '/console/keys/new', `/console/keys/${state.keyId}/rotate`, `/console/keys/${state.keyId}/revoke`,
    '/console/webhooks', '/console/webhooks/new', `/console/webhooks/${state.webhookId}`,
    `/console/webhooks/${state.webhookId}/deliveries/${state.deliveryId}`, '/console/audit', '/console/users', '/console/account'];
  const unlabelled = [];
  for (const path of paths) {
    await page.goto(path);
    const missing = await page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
      .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
      .map((el) => el.name || el.id || el.outerHTML));
    for (const m of missing) unlabelled.push(`${path}: ${m}`);
  }
  assert.deepEqual(unlabelled, []);
});

test('every console page carries a Content-Security-Policy without inline scripts', () => {
  assertCsp([...owner.pages, ...(other?.pages ?? [])]);
});

test('every page reads at 400 % zoom: at 320 CSS pixels wide nothing but a table scrolls sideways', async () => {
  // 400 % of a 1280-pixel window is 320 CSS pixels (WCAG 1.4.10, reflow): the page itself must
  // not need horizontal scrolling; wide tables scroll inside their own box.
  const narrow = await owner.context.newPage();
  await narrow.setViewportSize({ width: 320, height: 640 });
  const wide = [];
  for (const path of ['/console/keys', '/console/keys/new', '/console/webhooks', '/console/webhooks/new',
    '/console/audit', '/console/users', '/console/account']) {
    await narrow.goto(path);
    const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) {
      const culprit = await narrow.evaluate(() => {
        const w = window.innerWidth;
        const out = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w + 1);
        return out.slice(0, 3).map((e) => `${e.tagName.toLowerCase()}.${e.className}`).join(' ');
      });
      wide.push(`${path} (${overflow}px, e.g. ${culprit})`);
    }
  }
  await narrow.close();
  assert.deepEqual(wide, [], `pages wider than the window: ${wide.join(', ')}`);
});
