// Debian's Chromium through playwright-core, and the console's recurring steps.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const OWNER_EMAIL = 'owner@demo.klinivo.test';
export const PASSWORD = 'correct horse battery staple';

export function chromiumPath() {
  return process.env.KLINIVO_CHROMIUM || '/usr/bin/chromium';
}

export async function launchBrowser() {
  const args = [
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    // Nothing of Chromium's own traffic: the machine's network is closed.
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args });
}

/**
 * A fresh browser context (its own cookies) on the server, with the clipboard allowed, recording
 * every console document it loads: `pages` holds { url, status, headers, body }.
 */
export async function newConsoleContext(browser, server) {
  const context = await browser.newContext({
    baseURL: server.baseUrl,
    viewport: { width: 1200, height: 800 },
    deviceScaleFactor: 1,
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(20_000);
  const pages = [];
  context.on('response', async (response) => {
    const req = response.request();
    if (req.resourceType() !== 'document' || !new URL(response.url()).pathname.startsWith('/console')) return;
    const entry = { url: response.url(), method: req.method(), status: response.status(), headers: response.headers(), body: '' };
    pages.push(entry);
    try { entry.body = await response.text(); } catch { /* a redirect has no body */ }
  });
  return { context, pages };
}

/** Saves a full-page PNG as `${KLINIVO_SCREENSHOTS}/${name}.png` when that variable is set. */
export async function shot(page, name) {
  const dir = process.env.KLINIVO_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(resolve(dir), { recursive: true });
  await page.screenshot({ path: join(resolve(dir), `${name}.png`), fullPage: true, animations: 'disabled' });
}

/** The path (and query) of a link printed by the server, to open on the server under test. */
export function pathOf(link) {
  const u = new URL(link);
  return u.pathname + u.search;
}

/** Opens a set-password link and sets the password; ends on the sign-in page. */
export async function setPassword(page, link, password = PASSWORD, { screenshot } = {}) {
  await page.goto(pathOf(link));
  if (screenshot) await shot(page, screenshot);
  await page.getByLabel('New password', { exact: true }).fill(password);
  await page.getByLabel('Repeat the new password', { exact: true }).fill(password);
  await submit(page, page.getByRole('button', { name: 'Set password', exact: true }), 'the set-password form');
  await page.waitForURL((u) => u.pathname === '/console/sign-in');
  assert.equal(new URL(page.url()).searchParams.get('notice'), 'password-set');
  await assertVisibleText(page, 'Your password is set. Sign in.');
}

/** Signs in; ends on /console/keys. */
export async function signIn(page, email, password = PASSWORD) {
  if (new URL(page.url(), 'http://x').pathname !== '/console/sign-in') await page.goto('/console/sign-in');
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await submit(page, page.getByRole('button', { name: 'Sign in', exact: true }), 'the sign-in form');
  await page.waitForURL((u) => u.pathname === '/console/keys');
}

/**
 * Clicks a form's submit button and fails with what the server said (status, <h1>, alert) when
 * it answers the POST with an error.
 */
export async function submit(page, button, what) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.request().resourceType() === 'document'),
    button.click(),
  ]);
  if (response.status() >= 400) {
    await page.waitForLoadState();
    const h1 = await page.locator('h1').first().textContent().catch(() => '');
    const alert = await page.getByRole('alert').first().textContent({ timeout: 500 }).catch(() => '');
    const sent = await response.request().allHeaders();
    throw new Error(`${what} was answered ${response.status()} "${(h1 || '').trim()}"${alert ? ` (${alert.trim()})` : ''}; ` +
      `the browser sent Origin: ${sent.origin ?? '(none)'}, Sec-Fetch-Site: ${sent['sec-fetch-site'] ?? '(none)'}`);
  }
  return response;
}

export async function assertVisibleText(page, text) {
  await page.getByText(text, { exact: false }).first().waitFor({ state: 'visible' });
}

/**
 * The cells of a table row by their column headers: { Name: '…', Prefix: '…', … }, whitespace
 * collapsed.
 */
export async function rowCells(row) {
  return row.evaluate((tr) => {
    const table = tr.closest('table');
    const headRow = table.tHead?.rows[0] ?? table.rows[0];
    const heads = [...headRow.cells].map((c) => c.textContent.replace(/\s+/g, ' ').trim());
    const cells = [...tr.cells].map((c) => c.textContent.replace(/\s+/g, ' ').trim());
    const out = {};
    heads.forEach((h, i) => { if (h) out[h] = cells[i]; });
    return out;
  });
}

/** Reloads the page until `check()` is true (or throws after `timeoutMs`). */
export async function reloadUntil(page, check, { timeoutMs = 15_000, intervalMs = 500, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) { last = e; }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not met after ${timeoutMs} ms${last ? ` (${last.message})` : ''}`);
    }
    await page.waitForTimeout(intervalMs);
    await page.reload();
  }
}

/** The value of the form's hidden CSRF field on the current page. */
export async function csrfToken(page) {
  const value = await page.locator('input[type=hidden][name=csrf]').first().getAttribute('value');
  assert.ok(value, 'the page has a form with a hidden csrf field');
  return value;
}

/**
 * Every console page loaded (status below 300) carried a Content-Security-Policy whose script
 * source allows no inline script or eval, and its HTML has no inline script.
 */
export function assertCsp(pages) {
  const documents = pages.filter((p) => p.status < 300);
  assert.ok(documents.length > 3, `${documents.length} console pages seen`);
  for (const p of documents) {
    const csp = p.headers['content-security-policy'];
    assert.ok(csp, `${p.method} ${p.url} has a Content-Security-Policy`);
    const directives = csp.split(';').map((d) => d.trim());
    const scriptSrc = directives.find((d) => d.startsWith('script-src ')) ?? directives.find((d) => d.startsWith('default-src ')) ?? '';
    assert.ok(scriptSrc, `${p.url}: the CSP restricts scripts (${csp})`);
    assert.doesNotMatch(scriptSrc, /'unsafe-inline'|'unsafe-eval'|\*/, `${p.url}: ${csp}`);
    assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(p.body), `${p.url} has no inline script`);
  }
}
