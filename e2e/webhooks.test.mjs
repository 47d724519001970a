// Webhooks in the console: an endpoint on a local receiver, a delivery that fails once and then
// arrives, its attempts, a redelivery, and the endpoint's other controls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api } from './lib/server.mjs';
import { startReceiver, signatureValid } from './lib/receiver.mjs';
import {
  OWNER_EMAIL, launchBrowser, newConsoleContext, shot, setPassword, signIn, rowCells, reloadUntil,
  assertVisibleText,
} from './lib/console.mjs';

let server;
let receiver;
let browser;
let context;
let page;
const state = {};

before(async () => {
  // The first delivery attempt fails with 500; the retry (a few hundred ms later) succeeds.
  receiver = await startReceiver({ statuses: [500] });
  server = await startServer();
  browser = await launchBrowser();
  ({ context } = await newConsoleContext(browser, server));
  page = await context.newPage();
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

// Requests to the endpoint added in the console (not the always-failing one).
const onMain = (r) => new URL(r.url, 'http://x').pathname === '/hooks/klinivo';
const detailPath = () => `/console/webhooks/${state.webhookId}`;

async function createPatient(lastName) {
  const res = await api(server, server.demoKey, 'POST', '/patients', { firstName: 'Webhook', lastName });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

test('an endpoint URL that is not http(s) is refused with an error', async () => {
  await page.goto('/console/webhooks/new');
  await page.getByLabel('Endpoint URL', { exact: true }).evaluate((i) => { i.type = 'text'; });
  await page.getByLabel('Endpoint URL', { exact: true }).fill('ftp://127.0.0.1/hooks');
  await page.getByLabel('patient.created', { exact: true }).check();
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Add endpoint', exact: true }).click(),
  ]);
  assert.equal(response.status(), 400);
  await page.getByRole('alert').waitFor();
  assert.equal(await page.locator('code#secret').count(), 0);
});

test('an endpoint on the local receiver is added and its secret shown once', async () => {
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Webhooks', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/console/webhooks');
  await page.getByRole('link', { name: 'Add endpoint', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/console/webhooks/new');
  await shot(page, 'webhook-new');
  await page.getByLabel('Endpoint URL', { exact: true }).fill(receiver.url);
  await page.getByLabel('Description', { exact: true }).fill('E2E receiver');
  await page.getByLabel('patient.created', { exact: true }).check();
  await page.getByRole('button', { name: 'Add endpoint', exact: true }).click();
  const secret = (await page.locator('code#secret').textContent()).trim();
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  await page.getByRole('button', { name: 'Copy', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Copied.' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await shot(page, 'webhook-secret');
  state.secret = secret;
  await page.getByRole('link', { name: 'Open the endpoint', exact: true }).click();
  await page.waitForURL(/\/console\/webhooks\/\d+$/);
  state.webhookId = Number(new URL(page.url()).pathname.split('/').pop());

  await page.goto('/console/webhooks');
  const row = page.locator(`tr[data-webhook-id="${state.webhookId}"]`);
  const cells = await rowCells(row);
  assert.equal((await row.getByRole('link').first().textContent()).trim(), receiver.url);
  assert.match(cells.URL, /E2E receiver/);
  assert.match(cells.Events, /patient\.created/);
  await shot(page, 'webhooks');
});

test('a patient.created delivery fails once, is retried and arrives signed', async (t) => {
  if (!needs(t, 'webhookId')) return;
  const patient = await createPatient('Delivered');
  const hits = await receiver.waitFor((r) => onMain(r) && r.headers['x-klinivo-event'] === 'patient.created', { count: 2, timeoutMs: 20_000 });
  assert.deepEqual(hits.slice(0, 2).map((r) => r.status), [500, 200]);
  const [first, second] = hits;
  assert.equal(first.headers['x-klinivo-delivery-id'], second.headers['x-klinivo-delivery-id']);
  assert.equal(first.headers['x-klinivo-event-id'], second.headers['x-klinivo-event-id']);
  assert.equal(second.headers['x-klinivo-attempt'], '2');
  const body = JSON.parse(second.body);
  assert.equal(body.type, 'patient.created');
  assert.equal(body.data.id, patient.id);
  assert.ok(signatureValid(second, state.secret), 'signed with the secret the console showed');
  state.deliveryId = Number(second.headers['x-klinivo-delivery-id']);
});

test('the endpoint page lists the delivery as succeeded after two attempts', async (t) => {
  if (!needs(t, 'deliveryId')) return;
  await page.goto(detailPath());
  const row = page.locator(`tr[data-delivery-id="${state.deliveryId}"]`);
  await reloadUntil(page, async () => (await rowCells(row)).Status === 'succeeded', { what: 'delivery succeeded' });
  const cells = await rowCells(row);
  assert.equal(cells.Event, 'patient.created');
  assert.equal(cells.Attempts, '2');
  for (const name of ['Disable', 'Save events', 'Rotate secret', 'Send test event', 'Recover', 'Filter']) {
    await page.getByRole('button', { name, exact: true }).waitFor();
  }
  await shot(page, 'webhook-detail');
  state.listed = true;
});

test('the delivery\'s attempts are shown, and it is redelivered', async (t) => {
  if (!needs(t, 'listed')) return;
  await page.goto(detailPath());
  await page.locator(`tr[data-delivery-id="${state.deliveryId}"]`).getByRole('link', { name: /^Details\b/ }).click();
  await page.waitForURL((u) => u.pathname === `${detailPath()}/deliveries/${state.deliveryId}`);
  const attemptRows = page.locator('tbody tr');
  assert.equal(await attemptRows.count(), 2);
  const codes = [];
  for (let i = 0; i < 2; i++) codes.push((await rowCells(attemptRows.nth(i)))['Status code']);
  assert.deepEqual([...codes].sort(), ['200', '500']);
  await shot(page, 'delivery');

  const before = receiver.requests.length;
  await page.getByRole('button', { name: 'Redeliver', exact: true }).click();
  await page.waitForLoadState();
  const again = await receiver.waitFor(
    (r) => r.headers['x-klinivo-delivery-id'] === String(state.deliveryId), { count: 3, timeoutMs: 15_000 });
  assert.ok(receiver.requests.length > before);
  assert.equal(again[2].status, 200);
  await page.goto(`${detailPath()}/deliveries/${state.deliveryId}`);
  await reloadUntil(page, async () => (await page.locator('tbody tr').count()) === 3, { what: 'a third attempt' });
});

test('"Send test event" sends webhook.test to the endpoint', async (t) => {
  if (!needs(t, 'webhookId')) return;
  await page.goto(detailPath());
  await page.getByRole('button', { name: 'Send test event', exact: true }).click();
  await page.waitForLoadState();
  const [hit] = await receiver.waitFor((r) => onMain(r) && r.headers['x-klinivo-event'] === 'webhook.test');
  assert.equal(JSON.parse(hit.body).data.id, state.webhookId);
  assert.ok(signatureValid(hit, state.secret));
});

test('the deliveries filter by status', async (t) => {
  if (!needs(t, 'listed')) return;
  await page.goto(detailPath());
  const status = page.getByLabel('Status', { exact: true });
  const values = await status.locator('option').evaluateAll((os) => os.map((o) => o.value));
  for (const v of ['', 'pending', 'succeeded']) assert.ok(values.includes(v), `the Status filter offers "${v}" (${values})`);
  const wrong = [];
  for (const other of values.filter((v) => v !== '' && v !== 'succeeded')) {
    await status.selectOption(other);
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('status') === other);
    assert.equal(await status.inputValue(), other, 'the filter stays selected');
    if (await page.locator(`tr[data-delivery-id="${state.deliveryId}"]`).count() !== 0) wrong.push(other);
  }
  assert.deepEqual(wrong, [], `the succeeded delivery is listed under the status filter(s) ${wrong.join(', ')}`);
  await status.selectOption('succeeded');
  await page.getByRole('button', { name: 'Filter', exact: true }).click();
  await page.waitForURL((u) => u.searchParams.get('status') === 'succeeded');
  await page.locator(`tr[data-delivery-id="${state.deliveryId}"]`).waitFor();
  const rows = page.locator('tr[data-delivery-id]');
  for (let i = 0; i < await rows.count(); i++) assert.equal((await rowCells(rows.nth(i))).Status, 'succeeded');
});

test('a delivery that always fails becomes a dead letter, listed under its filter, and is redelivered', async (t) => {
  if (!needs(t, 'webhookId')) return;
  const hook = await api(server, server.demoKey, 'POST', '/webhooks',
    { url: `${receiver.url}/always-500`, events: ['patient.created'], description: 'E2E always failing' });
  assert.equal(hook.status, 201, hook.text);
  const queued = await api(server, server.demoKey, 'POST', `/webhooks/${hook.json.id}/test`);
  assert.equal(queued.status, 202, queued.text);
  const deliveryId = queued.json.id;
  const mine = (r) => r.headers['x-klinivo-delivery-id'] === String(deliveryId);
  // 1 attempt and 5 retries, 1+2+4+8+16 units of 300 ms apart.
  await receiver.waitFor(mine, { count: 6, timeoutMs: 30_000 });
  const path = `/console/webhooks/${hook.json.id}`;
  await page.goto(path);
  const row = page.locator(`tr[data-delivery-id="${deliveryId}"]`);
  await reloadUntil(page, async () => /dead/.test((await rowCells(row)).Status), { what: 'a dead letter' });
  await page.getByLabel('Status', { exact: true }).selectOption({ label: 'Dead letter' });
  await page.getByRole('button', { name: 'Filter', exact: true }).click();
  await page.waitForURL((u) => !!u.searchParams.get('status'));
  await row.waitFor();
  await page.getByLabel('Status', { exact: true }).selectOption('succeeded');
  await page.getByRole('button', { name: 'Filter', exact: true }).click();
  await page.waitForURL((u) => u.searchParams.get('status') === 'succeeded');
  assert.equal(await row.count(), 0, 'the dead letter is not listed as succeeded');

  await page.goto(`${path}/deliveries/${deliveryId}`);
  assert.equal(await page.locator('tbody tr').count(), 6);
  await shot(page, 'delivery-dead');
  await page.getByRole('button', { name: 'Redeliver', exact: true }).click();
  await receiver.waitFor(mine, { count: 7, timeoutMs: 15_000 });
  assert.equal((await api(server, server.demoKey, 'DELETE', `/webhooks/${hook.json.id}`)).status, 204);
});

test('a disabled endpoint gets nothing; enabled again, "Recover" sends what it missed', async (t) => {
  if (!needs(t, 'webhookId')) return;
  await page.goto(detailPath());
  await page.getByRole('button', { name: 'Disable', exact: true }).click();
  await page.getByRole('button', { name: 'Enable', exact: true }).waitFor();
  const patient = await createPatient('Missed');
  const missed = (r) => onMain(r) && r.headers['x-klinivo-event'] === 'patient.created' && JSON.parse(r.body).data.id === patient.id;
  await page.waitForTimeout(1500);
  assert.equal(receiver.requests.filter(missed).length, 0, 'nothing is sent while disabled');

  await page.getByRole('button', { name: 'Enable', exact: true }).click();
  await page.getByRole('button', { name: 'Disable', exact: true }).waitFor();
  const since = new Date(Date.now() - 10 * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
  await page.getByLabel('Since', { exact: true }).fill(since);
  await page.getByRole('button', { name: 'Recover', exact: true }).click();
  await page.waitForLoadState();
  await receiver.waitFor(missed, { timeoutMs: 15_000 });
});

test('"Save events" changes the subscription\'s events', async (t) => {
  if (!needs(t, 'webhookId')) return;
  await page.goto(detailPath());
  await page.getByLabel('appointment.scheduled', { exact: true }).check();
  await page.getByRole('button', { name: 'Save events', exact: true }).click();
  await page.waitForLoadState();
  await page.goto(detailPath());
  assert.equal(await page.getByLabel('appointment.scheduled', { exact: true }).isChecked(), true);
  assert.equal(await page.getByLabel('patient.created', { exact: true }).isChecked(), true);
  const webhook = await api(server, server.demoKey, 'GET', `/webhooks/${state.webhookId}`);
  assert.equal(webhook.status, 200, webhook.text);
  assert.deepEqual([...webhook.json.events].sort(), ['appointment.scheduled', 'patient.created']);
});

test('"Rotate secret" shows a new secret that signs the next deliveries', async (t) => {
  if (!needs(t, 'webhookId')) return;
  await page.goto(detailPath());
  await page.getByRole('button', { name: 'Rotate secret', exact: true }).click();
  const secret = (await page.locator('code#secret').textContent()).trim();
  assert.match(secret, /^whsec_/);
  assert.notEqual(secret, state.secret);
  await assertVisibleText(page, 'whsec_');
  const patient = await createPatient('Rotated');
  const [hit] = await receiver.waitFor(
    (r) => onMain(r) && r.headers['x-klinivo-event'] === 'patient.created' && JSON.parse(r.body).data.id === patient.id);
  assert.ok(signatureValid(hit, secret), 'signed with the new secret');
  assert.ok(!signatureValid(hit, state.secret), 'not with the old one');
});
