// The demo owner's first visit: the set-password link printed by `serve`, signing in, and an API
// key's life in the console — created with two permissions, copied, used, revoked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, api } from './lib/server.mjs';
import {
  OWNER_EMAIL, PASSWORD, launchBrowser, newConsoleContext, shot, setPassword, signIn, rowCells,
  reloadUntil, pathOf, assertVisibleText, assertCsp,
} from './lib/console.mjs';

let server;
let browser;
let context;
let pages;
let page;
const state = {};

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  ({ context, pages } = await newConsoleContext(browser, server));
  page = await context.newPage();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

function needs(t, ...names) {
  const missing = names.filter((n) => state[n] === undefined);
  if (missing.length) t.skip(`an earlier step failed (no ${missing.join(', ')})`);
  return missing.length === 0;
}

test('serve prints the demo owner\'s set-password link on stderr, under KLINIVO_PUBLIC_URL', () => {
  assert.match(server.setPasswordLink, /\/console\/set-password\/[^/\s]+$/);
  assert.ok(server.setPasswordLink.startsWith(`${server.baseUrl}/console/set-password/`),
    `link ${server.setPasswordLink} is under ${server.baseUrl}`);
  assert.ok(!server.stdout.includes('/console/'), 'stdout carries the key alone');
  assert.match(server.stdout.trim(), /^kv_[0-9A-Za-z]{42}$/);
});

test('signed-out console pages lead to the sign-in page', async () => {
  const res = await page.goto('/console/keys');
  assert.equal(new URL(page.url()).pathname, '/console/sign-in');
  assert.equal(res.status(), 200);
});

test('a password shorter than 12 characters is refused by the server', async () => {
  await page.goto(pathOf(server.setPasswordLink));
  // Past the browser's own check (minlength), to see the server's.
  await page.evaluate(() => document.querySelectorAll('input[minlength]').forEach((i) => i.removeAttribute('minlength')));
  await page.getByLabel('New password', { exact: true }).fill('short');
  await page.getByLabel('Repeat the new password', { exact: true }).fill('short');
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Set password', exact: true }).click(),
  ]);
  assert.equal(response.status(), 400);
  await page.getByRole('alert').waitFor();
  await page.getByLabel('New password', { exact: true }).waitFor();
});

test('the set-password link sets the password, once', async () => {
  await setPassword(page, server.setPasswordLink, PASSWORD, { screenshot: 'set-password' });
  await shot(page, 'sign-in');
  state.passwordSet = true;
  // The link is spent.
  await page.goto(pathOf(server.setPasswordLink));
  const form = await page.getByLabel('Repeat the new password', { exact: true }).count();
  assert.equal(form, 0, 'a used set-password link shows no form');
});

test('a wrong password is refused with an alert', async (t) => {
  if (!needs(t, 'passwordSet')) return;
  await page.goto('/console/sign-in');
  await page.getByLabel('Email', { exact: true }).fill(OWNER_EMAIL);
  await page.getByLabel('Password', { exact: true }).fill('not the password at all');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: 'Email or password is incorrect.' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/console/sign-in');
});

test('the owner signs in and lands on the API keys', async (t) => {
  if (!needs(t, 'passwordSet')) return;
  await signIn(page, OWNER_EMAIL);
  const nav = page.getByRole('navigation', { name: 'Console' });
  for (const name of ['API keys', 'Webhooks', 'Audit log', 'Users', 'Account']) {
    await nav.getByRole('link', { name, exact: true }).waitFor();
  }
  await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
  // The demo key `serve` printed is listed by its prefix.
  const demoRow = page.locator(`tr[data-key-prefix="${server.demoKey.slice(0, 11)}"]`);
  await demoRow.waitFor();
  assert.equal((await rowCells(demoRow)).Status, 'active');
  const cookies = await context.cookies();
  const cookie = cookies.find((c) => c.name === 'klinivo_console');
  assert.ok(cookie, 'the klinivo_console cookie is set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/console');
  state.signedIn = true;
});

test('an API key is created with two permissions and shown once', async (t) => {
  if (!needs(t, 'signedIn')) return;
  await page.goto('/console/keys');
  await page.getByRole('link', { name: 'Create API key', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/console/keys/new');
  await shot(page, 'key-new');
  await page.getByLabel('Name', { exact: true }).fill('E2E booking widget');
  await page.getByLabel('READ_PATIENTS', { exact: true }).check();
  await page.getByLabel('READ_PROVIDERS', { exact: true }).check();
  await page.getByRole('button', { name: 'Create API key', exact: true }).click();
  const secret = (await page.locator('code#secret').textContent()).trim();
  assert.match(secret, /^kv_[0-9A-Za-z]{42}$/);
  await assertVisibleText(page, 'Copy the key immediately — it will not be shown again.');
  await page.getByRole('link', { name: 'Back to API keys', exact: true }).waitFor();
  await shot(page, 'key-created');
  state.key = secret;
  state.prefix = secret.slice(0, 11);

  // "Copy" puts exactly the shown key on the clipboard.
  const copy = page.getByRole('button', { name: 'Copy', exact: true });
  assert.equal(await copy.getAttribute('data-copy'), 'secret');
  await page.evaluate(() => navigator.clipboard.writeText('(empty)'));
  await copy.click();
  let clip;
  for (let i = 0; i < 20; i++) {
    clip = await page.evaluate(() => navigator.clipboard.readText());
    if (clip !== '(empty)') break;
    await page.waitForTimeout(100);
  }
  assert.equal(clip, secret);
  await page.getByRole('status').filter({ hasText: 'Copied.' }).waitFor();

  // Reloading the list never shows it again.
  await page.getByRole('link', { name: 'Back to API keys', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/console/keys');
  assert.ok(!(await page.content()).includes(secret), 'the list does not show the secret');
});

test('the new key is listed with its permissions, active, never used', async (t) => {
  if (!needs(t, 'prefix')) return;
  await page.goto('/console/keys');
  const row = page.locator(`tr[data-key-prefix="${state.prefix}"]`);
  const cells = await rowCells(row);
  assert.equal(cells.Name, 'E2E booking widget');
  assert.equal(cells.Prefix, state.prefix);
  assert.match(cells.Permissions, /READ_PATIENTS/);
  assert.match(cells.Permissions, /READ_PROVIDERS/);
  assert.doesNotMatch(cells.Permissions, /WRITE_PATIENTS|MANAGE_WEBHOOKS/);
  assert.equal(cells.Status, 'active');
  assert.equal(cells['Last used'], 'never');
  await row.getByRole('link', { name: /^Revoke\b/ }).waitFor();
  await row.getByRole('link', { name: /^Rotate\b/ }).waitFor();
  state.listed = true;
});

test('the copied key calls /api/v1/health and "last used" changes', async (t) => {
  if (!needs(t, 'key', 'listed')) return;
  const health = await api(server, state.key, 'GET', '/health');
  assert.equal(health.status, 200, health.text);
  // It has only the permissions it was given.
  assert.equal((await api(server, state.key, 'GET', '/providers?limit=1')).status, 200);
  assert.equal((await api(server, state.key, 'POST', '/patients', { firstName: 'A', lastName: 'B' })).status, 403);

  await page.goto('/console/keys');
  const row = page.locator(`tr[data-key-prefix="${state.prefix}"]`);
  await reloadUntil(page, async () => (await rowCells(row))['Last used'] !== 'never', {
    timeoutMs: 15_000, what: '"Last used" of the key after a request',
  });
  await shot(page, 'keys');
  state.used = true;
});

test('revoking the key refuses it at once with 401', async (t) => {
  if (!needs(t, 'key', 'listed')) return;
  await page.goto('/console/keys');
  const row = page.locator(`tr[data-key-prefix="${state.prefix}"]`);
  await row.getByRole('link', { name: /^Revoke\b/ }).click();
  await page.waitForURL(/\/console\/keys\/\d+\/revoke$/);
  await shot(page, 'key-revoke');
  await page.getByRole('button', { name: 'Revoke key', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/console/keys');
  const cells = await rowCells(page.locator(`tr[data-key-prefix="${state.prefix}"]`));
  assert.equal(cells.Status, 'revoked');
  assert.equal(await page.locator(`tr[data-key-prefix="${state.prefix}"]`).getByRole('link', { name: /^Revoke\b/ }).count(), 0);
  const health = await api(server, state.key, 'GET', '/health');
  assert.equal(health.status, 401, health.text);
  // The demo key is untouched.
  assert.equal((await api(server, server.demoKey, 'GET', '/health')).status, 200);
  state.revoked = true;
});

test('a key form with no name and no permission is refused with its errors; expiry and rate limit are kept', async (t) => {
  if (!needs(t, 'signedIn')) return;
  await page.goto('/console/keys/new');
  await page.evaluate(() => document.querySelectorAll('[required]').forEach((i) => i.removeAttribute('required')));
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Create API key', exact: true }).click(),
  ]);
  assert.equal(response.status(), 400);
  await page.getByRole('alert').filter({ hasText: 'Select at least one permission.' }).waitFor();
  assert.equal(await page.locator('code#secret').count(), 0);

  await page.getByLabel('Name', { exact: true }).fill('E2E limited');
  await page.getByLabel('READ_APPOINTMENTS', { exact: true }).check();
  await page.getByLabel('Expires in days', { exact: true }).fill('30');
  await page.getByLabel('Rate limit per minute', { exact: true }).fill('120');
  await page.getByRole('button', { name: 'Create API key', exact: true }).click();
  const secret = (await page.locator('code#secret').textContent()).trim();
  await page.goto('/console/keys');
  const cells = await rowCells(page.locator(`tr[data-key-prefix="${secret.slice(0, 11)}"]`));
  assert.notEqual(cells.Expires, 'never');
  assert.match(cells['Rate limit'], /\b120\b/);
  assert.equal(cells.Permissions, 'READ_APPOINTMENTS');
});

test('rotating a key shows its replacement once, and both work during the grace period', async (t) => {
  if (!needs(t, 'signedIn')) return;
  // A key to rotate, made with the CLI so this step stands on its own.
  const org = (await api(server, server.demoKey, 'GET', '/health')).json?.organizationId;
  assert.ok(org, 'GET /health names the organization');
  const old = await server.cli(['key', 'create', '--org', String(org), '--name', 'E2E rotate me', '--permissions', 'READ_PROVIDERS']);
  assert.match(old, /^kv_[0-9A-Za-z]{42}$/);
  await page.goto('/console/keys');
  await page.locator(`tr[data-key-prefix="${old.slice(0, 11)}"]`).getByRole('link', { name: /^Rotate\b/ }).click();
  await page.waitForURL(/\/console\/keys\/\d+\/rotate$/);
  assert.equal(await page.getByLabel('Grace period in hours', { exact: true }).inputValue(), '24');
  await shot(page, 'key-rotate');
  await page.getByRole('button', { name: 'Rotate key', exact: true }).click();
  const replacement = (await page.locator('code#secret').textContent()).trim();
  assert.match(replacement, /^kv_[0-9A-Za-z]{42}$/);
  assert.notEqual(replacement, old);
  assert.equal((await api(server, server.demoKey, 'GET', '/health')).status, 200);
  assert.equal((await api(server, replacement, 'GET', '/health')).status, 200);
  assert.equal((await api(server, old, 'GET', '/health')).status, 200, 'the old key works during the grace period');
});

test('the audit log lists API access by key prefix', async (t) => {
  if (!needs(t, 'signedIn')) return;
  const list = await api(server, server.demoKey, 'GET', '/patients?limit=1');
  assert.equal(list.status, 200);
  const id = list.json.data[0].id;
  assert.equal((await api(server, server.demoKey, 'GET', `/patients/${id}`)).status, 200);
  const demoPrefix = server.demoKey.slice(0, 11);
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Audit log', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/console/audit');
  await reloadUntil(page, async () => (await page.locator('tbody tr').filter({ hasText: demoPrefix }).count()) > 0, {
    timeoutMs: 15_000, what: 'an audit entry of the demo key',
  });
  for (const label of ['Resource type', 'Resource id', 'Key prefix', 'User id', 'From', 'To']) {
    await page.getByLabel(label, { exact: true }).waitFor();
  }
  await shot(page, 'audit');
  // Console actions are there too, by user id: the key created and revoked above.
  const routes = [];
  const all = page.locator('tbody tr');
  for (let i = 0; i < await all.count(); i++) {
    const c = await rowCells(all.nth(i));
    if (/^user \d+$/.test(c.Who)) routes.push(c.Route);
  }
  assert.ok(routes.includes('POST /console/keys'), `console actions audited: ${routes}`);
  if (state.revoked) assert.ok(routes.includes('POST /console/keys/{id}/revoke'), `console actions audited: ${routes}`);
  // The filter by key prefix keeps only that key's entries.
  await page.getByLabel('Key prefix', { exact: true }).fill(demoPrefix);
  await page.getByRole('button', { name: 'Filter', exact: true }).click();
  await page.waitForLoadState();
  const rows = page.locator('tbody tr');
  const n = await rows.count();
  assert.ok(n > 0, 'the filtered audit log has rows');
  for (let i = 0; i < n; i++) assert.equal((await rowCells(rows.nth(i))).Who, demoPrefix);
});

test('the owner sees the users page', async (t) => {
  if (!needs(t, 'signedIn')) return;
  await page.goto('/console/users');
  const row = page.locator(`tr[data-user-email="${OWNER_EMAIL}"]`);
  const cells = await rowCells(row);
  assert.equal(cells.Role, 'owner');
  await page.getByRole('button', { name: 'Invite', exact: true }).waitFor();
  await shot(page, 'users');
});

test('the owner invites an admin, who sets a password and signs in', async (t) => {
  if (!needs(t, 'signedIn')) return;
  await page.goto('/console/users');
  await page.getByLabel('Email', { exact: true }).fill('admin@demo.klinivo.test');
  await page.getByLabel('Role', { exact: true }).selectOption('admin');
  await page.getByRole('button', { name: 'Invite', exact: true }).click();
  const link = (await page.locator('code#link').textContent()).trim();
  assert.ok(link.startsWith(`${server.baseUrl}/console/set-password/`), link);
  await shot(page, 'user-invited');
  const other = await newConsoleContext(browser, server);
  try {
    const p = await other.context.newPage();
    await setPassword(p, link);
    await signIn(p, 'admin@demo.klinivo.test');
    // Admins have no Users link and get 403 on the page.
    const nav = p.getByRole('navigation', { name: 'Console' });
    assert.equal(await nav.getByRole('link', { name: 'Users', exact: true }).count(), 0);
    const res = await p.goto('/console/users');
    assert.equal(res.status(), 403);

    // Disabled by the owner, their session ends at once and they cannot sign in again.
    await page.goto('/console/users');
    await page.locator('tr[data-user-email="admin@demo.klinivo.test"]').getByRole('button', { name: /^Disable\b/ }).click();
    await page.waitForURL((u) => u.pathname === '/console/users');
    assert.equal((await rowCells(page.locator('tr[data-user-email="admin@demo.klinivo.test"]'))).Status, 'disabled');
    await p.goto('/console/keys');
    assert.equal(new URL(p.url()).pathname, '/console/sign-in', 'the disabled admin is signed out');
    await p.getByLabel('Email', { exact: true }).fill('admin@demo.klinivo.test');
    await p.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await p.getByRole('button', { name: 'Sign in', exact: true }).click();
    await p.getByRole('alert').filter({ hasText: 'Email or password is incorrect.' }).waitFor();
  } finally {
    await other.context.close();
  }
});

test('the account page changes the password', async (t) => {
  if (!needs(t, 'signedIn')) return;
  await page.goto('/console/account');
  await shot(page, 'account');
  const next = `${PASSWORD} again`;
  await page.getByLabel('Current password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('New password', { exact: true }).fill(next);
  await page.getByLabel('Repeat the new password', { exact: true }).fill(next);
  await page.getByRole('button', { name: 'Change password', exact: true }).click();
  await page.waitForLoadState();
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/console/sign-in');
  // Signed out: the console sends us back to sign in.
  await page.goto('/console/keys');
  assert.equal(new URL(page.url()).pathname, '/console/sign-in');
  await signIn(page, OWNER_EMAIL, next);
});

test('every console page carries a Content-Security-Policy without inline scripts', async (t) => {
  if (!needs(t, 'signedIn')) return;
  assertCsp(pages);
});
