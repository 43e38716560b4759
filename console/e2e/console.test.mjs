// Browser test of the refundd console: headless Debian Chromium driven by
// playwright-core, against a running refundd whose merchant has the orders
// of console/testdata/orders.json. console/e2e_test.go starts that server
// and runs this file; by hand:
//
//   node console/e2e/console.test.mjs <baseURL> <merchant API key> <screenshot dir>
//
// Each step prints one line; a screenshot of every page it sees is saved
// as a PNG in the screenshot dir. Exits 1 on the first failed step.
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';

const [baseURL, key, shots] = process.argv.slice(2);
if (!baseURL || !key || !shots) {
  console.error('usage: node console.test.mjs <baseURL> <merchant API key> <screenshot dir>');
  process.exit(2);
}
await mkdir(shots, { recursive: true });

// The seeded orders: the KWD card order is refunded and canceled against.
const seed = JSON.parse(await readFile(new URL('../testdata/orders.json', import.meta.url), 'utf8'));
const kwd = seed.find((o) => o.reference === 'ORD-KWD-2001');
assert.ok(kwd, 'testdata/orders.json has no ORD-KWD-2001');

// Without the background-networking flags Chromium keeps dialling out and
// hangs on a machine with a closed network.
const browser = await chromium.launch({
  executablePath: process.env.REFUNDD_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timeout: 60_000,
});
const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 900 } });
context.setDefaultTimeout(15_000);
const page = await context.newPage();

// Anything the page reports as an error (a CSP violation, a failed load)
// or fetches from another origin fails the run.
const problems = [];
const origin = new URL(baseURL).origin;
// Error pages answer 4xx on purpose, which Chromium also logs as a failed
// load; a failed subresource (stylesheet, icon) is caught by status below.
page.on('console', (m) => {
  if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console error: ${m.text()}`);
});
page.on('response', (r) => {
  if (r.request().resourceType() !== 'document' && r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`);
});
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText} (on ${page.url()})`));
page.on('request', (r) => { if (new URL(r.url()).origin !== origin) problems.push(`fetched from elsewhere: ${r.url()}`); });

let n = 0;
// Every page photographed is also checked with axe-core (WCAG 2 A and
// AA): a serious or critical violation fails the run.
const axe = [];
async function shot(name) {
  n += 1;
  await page.screenshot({ path: path.join(shots, `${String(n).padStart(2, '0')}-${name}.png`), fullPage: true });
  const res = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  axe.push(`${name}: ${bad.length} serious or critical, ${res.violations.length - bad.length} other, ${res.passes.length} rules passed`);
  for (const v of bad) {
    problems.push(`axe on ${name}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((x) => x.target.join(' ')).join('; ')})`);
  }
}
async function text(selector) {
  return (await page.locator(selector).first().innerText()).replace(/\s+/g, ' ').trim();
}
async function step(name, fn) {
  process.stdout.write(`- ${name} ... `);
  await fn();
  console.log('ok');
}

let failed = false;
try {
  await step('an unsigned visit goes to the sign-in page', async () => {
    await page.goto('/console');
    await page.waitForURL('**/console/login');
    assert.equal(await page.locator('header.top').evaluate((el) => getComputedStyle(el).backgroundColor),
      'rgb(18, 55, 42)', 'the stylesheet did not apply');
    await shot('sign-in');
  });

  await step('a bad key is refused with a message', async () => {
    await page.getByLabel('API key').fill('rk_000000000000_00000000000000000000000000000000');
    await page.getByRole('button', { name: 'Sign in with the key' }).click();
    assert.match(await text('[role=alert]'), /That API key was not accepted/);
    assert.match(page.url(), /\/console\/login$/);
    assert.equal((await context.cookies()).find((c) => c.name === 'refundd_console'), undefined);
    await shot('sign-in-refused');
  });

  await step('the merchant key signs in', async () => {
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in with the key' }).click();
    await page.waitForURL('**/console/orders');
    const session = (await context.cookies()).find((c) => c.name === 'refundd_console');
    assert.ok(session, 'no session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.ok(!session.value.includes(key.slice(3, 15)), 'the cookie holds the key');
    assert.ok(!(await page.content()).includes(key), 'the page shows the key');
    for (const o of seed) assert.match(await text('#orders'), new RegExp(o.reference));
    await shot('orders');
  });

  await step('search finds the KWD order by reference', async () => {
    await page.getByLabel('Order id or reference').fill(kwd.reference);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/\/console\/orders\?q=/);
    assert.equal(await page.locator('#orders tbody tr').count(), 1);
    await shot('search');
    await page.getByRole('link', { name: kwd.reference }).click();
    await page.waitForURL(/\/console\/orders\/[^/?]+$/);
    assert.equal(await text('#order-amount'), '12.345 KWD');
    assert.equal(await text('#refunded-amount'), '0.000 KWD');
    await shot('order');
  });
  const orderURL = page.url();

  await step('a partial refund of 1.005 KWD succeeds and shows on the order', async () => {
    const form = page.locator('#refund-partial');
    await form.getByLabel('Amount (KWD)').fill('1.005');
    await form.getByLabel('Reason').fill('Damaged bottle');
    await form.getByRole('button', { name: 'Refund' }).click();
    await page.waitForURL(/\?refund=/);
    assert.match(await text('#refund-result'), /Refund of 1\.005 KWD: succeeded/);
    assert.equal(await text('#refunded-amount'), '1.005 KWD');
    assert.equal(await text('#refundable-amount'), '11.340 KWD');
    assert.match(await text('#refunds'), /1\.005 KWD succeeded Damaged bottle/);
    await shot('refunded');
  });

  await step('a bad amount shows a form error and refunds nothing', async () => {
    await page.goto(orderURL);
    const form = page.locator('#refund-partial');
    await form.getByLabel('Amount (KWD)').fill('1.0005');
    await form.getByLabel('Reason').fill('Too precise');
    await form.getByRole('button', { name: 'Refund' }).click();
    await page.waitForURL(/\/refunds$/);
    assert.match(await text('[role=alert]'), /KWD has 3 decimals/);
    assert.equal(await page.locator('#refund-partial').getByLabel('Amount (KWD)').inputValue(), '1.0005');
    assert.equal(await text('#refunded-amount'), '1.005 KWD');
    assert.equal(await page.locator('#refunds tbody tr').count(), 1);
    await shot('bad-amount');
  });

  await step('a queued refund is canceled before it reaches the processor', async () => {
    await page.goto(orderURL);
    const form = page.locator('#refund-partial');
    await form.getByLabel('Amount (KWD)').fill('2.000');
    await form.getByLabel('Reason').fill('Customer changed mind');
    await form.getByLabel(/Hold in the queue/).check();
    await form.getByRole('button', { name: 'Refund' }).click();
    await page.waitForURL(/\?refund=/);
    assert.match(await text('#refund-result'), /Refund of 2\.000 KWD: pending/);
    assert.equal(await text('#pending-amount'), '2.000 KWD');
    await page.locator('#refund-result a').click();
    await page.waitForURL(/\/console\/refunds\/[^/?]+$/);
    assert.equal(await text('#refund-status'), 'pending');
    await shot('queued-refund');
    await page.getByRole('button', { name: 'Cancel this refund' }).click();
    await page.waitForURL(/\?m=canceled$/);
    assert.equal(await text('#refund-status'), 'canceled');
    assert.match(await text('[role=status]'), /The refund was canceled/);
    assert.match(await text('#transitions'), /pending canceled canceled by merchant/);
    assert.equal(await page.getByRole('button', { name: 'Cancel this refund' }).count(), 0);
    await shot('canceled');
    await page.getByRole('link', { name: kwd.reference }).first().click();
    await page.waitForURL(orderURL);
    assert.equal(await text('#pending-amount'), '0.000 KWD');
    assert.equal(await text('#refunded-amount'), '1.005 KWD');
    await shot('order-after-cancel');
  });

  await step('the webhook deliveries page shows each attempt', async () => {
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.waitForURL('**/console/webhooks');
    const log = await text('table.deliveries');
    assert.match(log, /refund\.created .* 1 500 /);
    assert.match(log, /refund\.succeeded .* 1 200 /);
    assert.ok(!(await page.content()).includes('whsec_'), 'the page shows an endpoint secret');
    await shot('webhooks');
    await page.getByRole('link', { name: 'Full delivery log' }).first().click();
    await page.waitForURL(/\/console\/webhooks\/[^/]+$/);
    assert.match(await text('h1'), /Delivery log/);
    await shot('deliveries');
  });

  await step('sign-out ends the session', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/console\/login\?m=signed_out$/);
    assert.match(await text('[role=status]'), /You are signed out/);
    await shot('signed-out');
    await page.goto('/console/orders');
    await page.waitForURL(/\/console\/login$/);
  });

  // Maker-checker, with people's own accounts (console/e2e_test.go makes
  // them and the refund policy).
  const maker = process.env.REFUNDD_E2E_MAKER;
  const checker = process.env.REFUNDD_E2E_CHECKER;
  const password = process.env.REFUNDD_E2E_PASSWORD;
  const approvalOrder = process.env.REFUNDD_E2E_APPROVAL_ORDER;
  assert.ok(maker && checker && password && approvalOrder, 'the approval accounts are not set');
  async function signInAs(email) {
    // Already on the sign-in page after signing out: navigating again
    // would abort its icon's load, which counts as a problem.
    if (!page.url().includes('/console/login')) await page.goto('/console/login');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL('**/console/orders');
    await page.waitForLoadState('load'); // its icon too, before the next navigation
  }

  await step('a refunder signs in with their account and asks for a refund over the approval threshold', async () => {
    await signInAs(maker);
    assert.match(await text('#user'), /refunder/);
    await page.goto(`/console/orders/${approvalOrder}`);
    const form = page.locator('#refund-partial');
    await form.getByLabel('Amount (SAR)').fill('25.00');
    await form.getByLabel('Reason').fill('Whole set returned');
    await form.getByRole('button', { name: 'Refund' }).click();
    await page.waitForURL(/\?refund=/);
    assert.match(await text('#refund-result'), /approval/);
    await shot('waiting-for-approval');
  });

  await step('the refunder sees it waiting and has no approve button', async () => {
    await page.getByRole('link', { name: 'Needs attention' }).click();
    await page.waitForURL('**/console/attention');
    await page.getByRole('link', { name: 'Waiting for approval' }).click();
    await page.waitForURL('**/console/approvals');
    assert.match(await text('main'), /You asked for this refund/);
    assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0);
    await shot('approvals-own');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/signed_out/);
  });

  await step('an approver approves it from the queue', async () => {
    await signInAs(checker);
    await page.getByRole('link', { name: 'Needs attention' }).click();
    await page.waitForURL('**/console/attention');
    await page.getByRole('link', { name: 'Waiting for approval' }).click();
    await page.waitForURL('**/console/approvals');
    assert.match(await text('main'), /25\.00 SAR/);
    assert.match(await text('main'), /Whole set returned/);
    await shot('approvals-queue');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.waitForURL(/\?m=approved$/);
    assert.match(await text('[role=status]'), /Approved/);
    assert.match(await text('main'), /Nothing is waiting for approval/);
    await shot('approved');
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.waitForURL(/\/console\/$/);
    assert.equal(await page.locator('svg#chart[role=img]').count(), 1);
    assert.match(await text('#figures'), /Today/);
    await shot('overview');
    await page.getByRole('link', { name: 'Refunds', exact: true }).click();
    await page.waitForURL('**/console/refunds');
    await page.getByLabel('Status').selectOption('succeeded');
    await page.getByLabel('Currency').fill('SAR');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/status=succeeded/);
    const rows = await page.locator('#refund-list tbody tr').count();
    assert.ok(rows >= 2, `the filtered list has ${rows} rows`);
    assert.equal(await page.locator('#refund-list tr[data-status]:not([data-status=succeeded])').count(), 0);
    await shot('refunds-filtered');
    await page.getByRole('link', { name: 'Needs attention' }).click();
    await page.waitForURL('**/console/attention');
    assert.match(await text('main'), /Nothing is waiting for review/);
    await shot('attention');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/signed_out/);
  });

  assert.deepEqual(problems, [], 'the pages reported problems');
} catch (err) {
  failed = true;
  console.log('FAILED');
  console.error(err);
  if (problems.length) console.error(problems.join('\n'));
  await shot('failure').catch(() => {});
} finally {
  await browser.close();
}
console.log('axe-core, per page:\n  ' + axe.join('\n  '));
console.log(failed ? 'console browser test: FAILED' : `console browser test: passed, ${n} screenshots in ${shots}`);
process.exit(failed ? 1 : 0);
