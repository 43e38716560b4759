// Browser test of the refundd console: headless Debian Chromium driven by
// playwright-core, against a running refundd whose merchant has the orders
// of console/testdata/orders.json. console/e2e_test.go starts that server
// and runs this file; by hand:
//
//   node console/e2e/console.test.mjs <baseURL> <merchant API key> <screenshot dir>
//
// The same walk through every page runs twice: in English (a browser that
// asks for English; screenshots NN-name.png) and in Arabic (a browser that
// asks for Arabic, which also flips the language switch both ways;
// screenshots ar-NN-name.png). Each step prints one line; every page seen
// is photographed and checked with axe-core. Exits 1 on the first failed
// step.
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

const seed = JSON.parse(await readFile(new URL('../testdata/orders.json', import.meta.url), 'utf8'));
for (const ref of ['ORD-KWD-2001', 'ORD-SAR-1001', 'ORD-SAR-1051']) {
  assert.ok(seed.find((o) => o.reference === ref), `testdata/orders.json has no ${ref}`);
}

// Maker-checker, with people's own accounts (console/e2e_test.go makes
// them and the refund policy: refunds from 20.00 SAR wait for approval).
const maker = process.env.REFUNDD_E2E_MAKER;
const checker = process.env.REFUNDD_E2E_CHECKER;
const password = process.env.REFUNDD_E2E_PASSWORD;
const orderIDs = JSON.parse(process.env.REFUNDD_E2E_ORDERS || '{}');
assert.ok(maker && checker && password && orderIDs['ORD-SAR-1001'], 'the approval accounts and order ids are not set');

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// What each language's walk does and expects to read. The two walks
// refund different orders, so that each starts from a known state: the
// English one refunds ORD-KWD-2001 and gets 25.00 SAR of ORD-SAR-1001
// approved; the Arabic one refunds ORD-KWD-2003 (like ORD-KWD-2001, made
// by console/e2e_test.go) and gets 20.00 SAR of ORD-SAR-1051 (card 0051)
// approved, which the processor declines.
const langs = {
  en: {
    locale: 'en-US', prefix: '', dir: 'ltr', signIn: 'Sign in', other: 'العربية',
    keyLabel: 'API key', keyButton: 'Sign in with the key', refused: /That API key was not accepted/,
    search: 'Order id or reference', searchButton: 'Search',
    kwd: 'ORD-KWD-2001', kwdAmount: '12.345 KWD', amountLabel: 'Amount (KWD)', reason: 'Reason', refund: 'Refund',
    refunded: (a) => new RegExp(`Refund of ${esc(a)} KWD: succeeded`), refundReason: 'Damaged bottle',
    left: '11.340 KWD', zeroKWD: '0.000 KWD',
    decimals: /KWD has 3 decimals/, queue: /Hold in the queue/, pendingRe: (a) => new RegExp(`Refund of ${esc(a)} KWD: pending`),
    pending: 'pending', canceled: 'canceled', cancel: 'Cancel this refund', canceledNotice: /The refund was canceled/,
    history: /pending canceled canceled by merchant/,
    failedOrderAmount: '1.00', failedRe: /Refund of 1\.00 SAR: failed/, failedReason: /Reason: insufficient funds \(code 51\)/,
    webhooks: 'Webhooks', fullLog: 'Full delivery log', deliveryLog: /Delivery log/,
    signOut: 'Sign out', signedOut: /You are signed out/, email: 'Email', password: 'Password',
    approvalOrder: 'ORD-SAR-1001', approvalAmount: '25.00', approvalReason: 'Whole set returned', waitingRe: /waiting for approval/,
    attention: 'Needs attention', waiting: 'Waiting for approval', own: /You asked for this refund/, approve: 'Approve',
    approved: /Approved/, nothingWaiting: /Nothing is waiting for approval/,
    overview: 'Overview', today: /Today/, refunds: 'Refunds', status: 'Status', currency: 'Currency', filter: 'Filter',
    nothingReview: /Nothing is waiting for review/, discrepancies: 'Open discrepancies', noDiscrepancies: /No discrepancies/,
    notFound: /This page does not exist/, zone: /Times are shown in Asia\/Riyadh \(UTC\+03:00\)/,
  },
  ar: {
    locale: 'ar-SA', prefix: 'ar-', dir: 'rtl', signIn: 'تسجيل الدخول', other: 'English',
    keyLabel: 'مفتاح الواجهة البرمجية', keyButton: 'تسجيل الدخول بالمفتاح', refused: /لم يُقبل مفتاح الواجهة البرمجية/,
    search: 'معرّف الطلب أو مرجعه', searchButton: 'بحث',
    kwd: 'ORD-KWD-2003', kwdAmount: '12.345 KWD', amountLabel: 'المبلغ (KWD)', reason: 'السبب', refund: 'استرداد',
    refunded: (a) => new RegExp(`استرداد ${esc(a)} KWD: ناجح`), refundReason: 'زجاجة عطر مكسورة',
    left: '11.340 KWD', zeroKWD: '0.000 KWD',
    decimals: /عدد المنازل العشرية لعملة KWD هو 3/, queue: /إبقاؤه في قائمة الانتظار/, pendingRe: (a) => new RegExp(`استرداد ${esc(a)} KWD: قيد الانتظار`),
    pending: 'قيد الانتظار', canceled: 'ملغى', cancel: 'إلغاء هذا الاسترداد', canceledNotice: /أُلغي الاسترداد/,
    history: /قيد الانتظار ملغى ألغاه التاجر/,
    failedOrderAmount: '1.00', failedRe: /استرداد 1\.00 SAR: فاشل/, failedReason: /السبب: رصيد غير كافٍ \(الرمز 51\)/,
    webhooks: 'خطافات الويب', fullLog: 'سجل التسليم الكامل', deliveryLog: /سجل التسليم/,
    signOut: 'تسجيل الخروج', signedOut: /تم تسجيل خروجك/, email: 'البريد الإلكتروني', password: 'كلمة المرور',
    approvalOrder: 'ORD-SAR-1051', approvalAmount: '20.00', approvalReason: 'أُعيد الطقم كاملًا', waitingRe: /بانتظار الموافقة/,
    attention: 'بحاجة إلى متابعة', waiting: 'بانتظار الموافقة', own: /أنت من طلب هذا الاسترداد/, approve: 'موافقة',
    approved: /تمت الموافقة/, nothingWaiting: /لا شيء بانتظار الموافقة/,
    overview: 'نظرة عامة', today: /اليوم/, refunds: 'عمليات الاسترداد', status: 'الحالة', currency: 'العملة', filter: 'تصفية',
    nothingReview: /لا شيء بانتظار المراجعة/, discrepancies: 'فروقات مفتوحة', noDiscrepancies: /لا توجد فروقات/,
    notFound: /هذه الصفحة غير موجودة/, zone: /تظهر الأوقات بتوقيت Asia\/Riyadh \(UTC\+03:00\)/,
  },
};

// Without the background-networking flags Chromium keeps dialling out and
// hangs on a machine with a closed network.
const browser = await chromium.launch({
  executablePath: process.env.REFUNDD_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timeout: 60_000,
});

// Anything a page reports as an error (a CSP violation, a failed load) or
// fetches from another origin fails the run.
const problems = [];
const origin = new URL(baseURL).origin;
function watch(page) {
  // Error pages answer 4xx on purpose, which Chromium also logs as a
  // failed load; a failed subresource (stylesheet, icon) is caught by
  // status below.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console error: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.request().resourceType() !== 'document' && r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText} (on ${page.url()})`));
  page.on('request', (r) => { if (new URL(r.url()).origin !== origin) problems.push(`fetched from elsewhere: ${r.url()}`); });
}

// Every page photographed is also checked with axe-core (WCAG 2 A and
// AA): a serious or critical violation fails the run.
const axe = [];
const saved = [];
let page;
let L;
let n = 0;
async function shot(name) {
  n += 1;
  const file = path.join(shots, `${L.prefix}${String(n).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  saved.push(file);
  const res = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  axe.push(`${L.prefix}${name}: ${bad.length} serious or critical, ${res.violations.length - bad.length} other, ${res.passes.length} rules passed`);
  for (const v of bad) {
    problems.push(`axe on ${L.prefix}${name}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((x) => x.target.join(' ')).join('; ')})`);
  }
}
async function text(selector) {
  return (await page.locator(selector).first().innerText()).replace(/\s+/g, ' ').trim();
}
async function step(name, fn) {
  process.stdout.write(`- [${L.locale}] ${name} ... `);
  await fn();
  console.log('ok');
}
// speaks checks the page's language and direction, and that it carries
// the language switch.
async function speaks() {
  assert.equal(await page.locator('html').getAttribute('lang'), L.locale.slice(0, 2));
  assert.equal(await page.locator('html').getAttribute('dir'), L.dir);
  assert.equal(await page.getByRole('button', { name: L.other, exact: true }).count(), 1, 'no language switch');
}
async function signInAs(email) {
  // Already on the sign-in page after signing out: navigating again
  // would abort its icon's load, which counts as a problem.
  if (!page.url().includes('/console/login')) await page.goto('/console/login');
  await page.getByLabel(L.email).fill(email);
  await page.getByLabel(L.password).fill(password);
  await page.getByRole('button', { name: L.signIn, exact: true }).click();
  await page.waitForURL('**/console/orders');
  await page.waitForLoadState('load'); // its icon too, before the next navigation
}

// walk goes through every page of the console in language lang.
async function walk(lang) {
  L = langs[lang];
  n = 0;
  const context = await browser.newContext({ baseURL, locale: L.locale, viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15_000);
  page = await context.newPage();
  watch(page);
  const kwdID = orderIDs[L.kwd];

  await step('an unsigned visit goes to the sign-in page, in the browser\'s language', async () => {
    await page.goto('/console');
    await page.waitForURL('**/console/login');
    assert.equal(await page.locator('header.top').evaluate((el) => getComputedStyle(el).backgroundColor),
      'rgb(18, 55, 42)', 'the stylesheet did not apply');
    await speaks();
    await page.waitForLoadState('load');
    if (lang === 'ar') {
      // The switch, both ways, before sign-in.
      await page.getByRole('button', { name: 'English', exact: true }).click();
      await page.waitForURL('**/console/login');
      assert.equal(await page.locator('html').getAttribute('dir'), 'ltr');
      await page.waitForLoadState('load');
      await page.getByRole('button', { name: 'العربية', exact: true }).click();
      await page.waitForURL('**/console/login');
      await page.waitForLoadState('load');
      await speaks();
    }
    await shot('sign-in');
  });

  await step('a bad key is refused with a message', async () => {
    await page.getByLabel(L.keyLabel).fill('rk_000000000000_00000000000000000000000000000000');
    await page.getByRole('button', { name: L.keyButton }).click();
    assert.match(await text('[role=alert]'), L.refused);
    assert.match(page.url(), /\/console\/login$/);
    assert.equal((await context.cookies()).find((c) => c.name === 'refundd_console'), undefined);
    await shot('sign-in-refused');
  });

  await step('the merchant key signs in', async () => {
    await page.getByLabel(L.keyLabel).fill(key);
    await page.getByRole('button', { name: L.keyButton }).click();
    await page.waitForURL('**/console/orders');
    const session = (await context.cookies()).find((c) => c.name === 'refundd_console');
    assert.ok(session, 'no session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.ok(!session.value.includes(key.slice(3, 15)), 'the cookie holds the key');
    assert.ok(!(await page.content()).includes(key), 'the page shows the key');
    for (const o of seed) assert.match(await text('#orders'), new RegExp(o.reference));
    await speaks();
    assert.match(await text('#zone'), L.zone);
    // The header runs in the page's direction: the brand at the start.
    const brand = await page.locator('header .brand').boundingBox();
    const who = await page.locator('header .who').boundingBox();
    assert.ok(lang === 'ar' ? brand.x > who.x : brand.x < who.x, `the header is not laid out ${L.dir}`);
    await shot('orders');
  });

  await step(`search finds ${L.kwd} by reference`, async () => {
    await page.getByLabel(L.search).fill(L.kwd);
    await page.getByRole('button', { name: L.searchButton }).click();
    await page.waitForURL(/\/console\/orders\?q=/);
    assert.equal(await page.locator('#orders tbody tr').count(), 1);
    await shot('search');
    await page.getByRole('link', { name: L.kwd }).click();
    await page.waitForURL(/\/console\/orders\/[^/?]+$/);
    assert.equal(await text('#order-amount'), L.kwdAmount);
    assert.equal(await text('#refunded-amount'), L.zeroKWD);
    await shot('order');
  });
  const orderURL = page.url();

  await step('a partial refund of 1.005 KWD succeeds and shows on the order', async () => {
    const form = page.locator('#refund-partial');
    await form.getByLabel(L.amountLabel).fill('1.005');
    await form.getByLabel(L.reason).fill(L.refundReason);
    await form.getByRole('button', { name: L.refund, exact: true }).click();
    await page.waitForURL(/\?refund=/);
    assert.match(await text('#refund-result'), L.refunded('1.005'));
    assert.equal(await text('#refunded-amount'), '1.005 KWD');
    assert.equal(await text('#refundable-amount'), L.left);
    assert.match(await text('#refunds'), new RegExp(`1\\.005 KWD .*${esc(L.refundReason)}`));
    await shot('refunded');
  });

  await step('a bad amount shows a form error and refunds nothing', async () => {
    await page.goto(orderURL);
    const form = page.locator('#refund-partial');
    await form.getByLabel(L.amountLabel).fill('1.0005');
    await form.getByLabel(L.reason).fill('Too precise');
    await form.getByRole('button', { name: L.refund, exact: true }).click();
    await page.waitForURL(/\/refunds$/);
    assert.match(await text('[role=alert]'), L.decimals);
    assert.equal(await page.locator('#refund-partial').getByLabel(L.amountLabel).inputValue(), '1.0005');
    assert.equal(await text('#refunded-amount'), '1.005 KWD');
    assert.equal(await page.locator('#refunds tbody tr').count(), 1);
    await shot('bad-amount');
  });

  await step('a queued refund is canceled before it reaches the processor', async () => {
    await page.goto(orderURL);
    const form = page.locator('#refund-partial');
    await form.getByLabel(L.amountLabel).fill('2.000');
    await form.getByLabel(L.reason).fill('Customer changed mind');
    await form.getByLabel(L.queue).check();
    await form.getByRole('button', { name: L.refund, exact: true }).click();
    await page.waitForURL(/\?refund=/);
    assert.match(await text('#refund-result'), L.pendingRe('2.000'));
    assert.equal(await text('#pending-amount'), '2.000 KWD');
    await page.locator('#refund-result a').click();
    await page.waitForURL(/\/console\/refunds\/[^/?]+$/);
    assert.equal(await text('#refund-status'), L.pending);
    await shot('queued-refund');
    await page.getByRole('button', { name: L.cancel }).click();
    await page.waitForURL(/\?m=canceled$/);
    assert.equal(await text('#refund-status'), L.canceled);
    assert.match(await text('[role=status]'), L.canceledNotice);
    assert.match(await text('#transitions'), L.history);
    assert.equal(await page.getByRole('button', { name: L.cancel }).count(), 0);
    await shot('canceled');
    await page.getByRole('link', { name: L.kwd }).first().click();
    await page.waitForURL(orderURL);
    assert.equal(await text('#pending-amount'), L.zeroKWD);
    assert.equal(await text('#refunded-amount'), '1.005 KWD');
    await shot('order-after-cancel');
  });

  await step('a declined refund says why', async () => {
    await page.goto(`/console/orders/${orderIDs['ORD-SAR-1051']}`);
    const form = page.locator('#refund-partial');
    await form.getByLabel(L.amountLabel.replace('KWD', 'SAR')).fill(L.failedOrderAmount);
    await form.getByLabel(L.reason).fill(L.refundReason);
    await form.getByRole('button', { name: L.refund, exact: true }).click();
    await page.waitForURL(/\?refund=/);
    assert.match(await text('#refund-result'), L.failedRe);
    assert.match(await text('#refund-result'), L.failedReason);
    await shot('refund-failed');
  });

  await step('the webhook deliveries page shows each attempt', async () => {
    await page.getByRole('link', { name: L.webhooks, exact: true }).click();
    await page.waitForURL('**/console/webhooks');
    const log = await text('table.deliveries');
    assert.match(log, /refund\.created .* 1 500 /);
    assert.match(log, /refund\.succeeded .* 1 200 /);
    assert.ok(!(await page.content()).includes('whsec_'), 'the page shows an endpoint secret');
    await shot('webhooks');
    await page.getByRole('link', { name: L.fullLog }).first().click();
    await page.waitForURL(/\/console\/webhooks\/[^/]+$/);
    assert.match(await text('h1'), L.deliveryLog);
    await shot('deliveries');
  });

  await step('an unknown page is a page of its own', async () => {
    const res = await page.goto('/console/nowhere');
    assert.equal(res.status(), 404);
    assert.match(await text('[role=alert]'), L.notFound);
    await speaks();
    await shot('not-found');
  });

  await step('sign-out ends the session', async () => {
    await page.goto('/console/orders');
    await page.waitForLoadState('load');
    await page.getByRole('button', { name: L.signOut }).click();
    await page.waitForURL(/\/console\/login\?m=signed_out$/);
    assert.match(await text('[role=status]'), L.signedOut);
    await speaks();
    await shot('signed-out');
    await page.goto('/console/orders');
    await page.waitForURL(/\/console\/login$/);
  });

  await step('a refunder signs in with their account and asks for a refund over the approval threshold', async () => {
    await signInAs(maker);
    assert.match(await text('#user'), lang === 'ar' ? /مُنفّذ استرداد/ : /refunder/);
    await page.goto(`/console/orders/${orderIDs[L.approvalOrder]}`);
    const form = page.locator('#refund-partial');
    await form.getByLabel(L.amountLabel.replace('KWD', 'SAR')).fill(L.approvalAmount);
    await form.getByLabel(L.reason).fill(L.approvalReason);
    await form.getByRole('button', { name: L.refund, exact: true }).click();
    await page.waitForURL(/\?refund=/);
    assert.match(await text('#refund-result'), L.waitingRe);
    await shot('waiting-for-approval');
  });

  await step('the refunder sees it waiting and has no approve button', async () => {
    await page.getByRole('link', { name: L.attention }).click();
    await page.waitForURL('**/console/attention');
    await page.getByRole('link', { name: L.waiting }).click();
    await page.waitForURL('**/console/approvals');
    assert.match(await text('main'), L.own);
    assert.equal(await page.getByRole('button', { name: L.approve }).count(), 0);
    await shot('approvals-own');
    await page.getByRole('button', { name: L.signOut }).click();
    await page.waitForURL(/signed_out/);
  });

  await step('an approver approves it from the queue', async () => {
    await signInAs(checker);
    await page.getByRole('link', { name: L.attention }).click();
    await page.waitForURL('**/console/attention');
    await page.getByRole('link', { name: L.waiting }).click();
    await page.waitForURL('**/console/approvals');
    assert.match(await text('main'), new RegExp(`${esc(L.approvalAmount)} SAR`));
    assert.match(await text('main'), new RegExp(esc(L.approvalReason)));
    await shot('approvals-queue');
    await page.getByRole('button', { name: L.approve }).click();
    await page.waitForURL(/\?m=approved$/);
    assert.match(await text('[role=status]'), L.approved);
    assert.match(await text('main'), L.nothingWaiting);
    await shot('approved');
  });

  await step('the overview, the refunds list, what needs attention and the discrepancies', async () => {
    await page.getByRole('link', { name: L.overview }).click();
    await page.waitForURL(/\/console\/$/);
    assert.equal(await page.locator('svg#chart[role=img]').count(), 1);
    assert.match(await text('#figures'), L.today);
    assert.match(await page.locator('#chart-title').textContent(), lang === 'ar' ? /عمليات الاسترداد يوميًا/ : /Refunds per day/);
    await shot('overview');
    await page.getByRole('link', { name: L.refunds, exact: true }).click();
    await page.waitForURL('**/console/refunds');
    await page.getByLabel(L.status).selectOption('succeeded');
    await page.getByLabel(L.currency).fill('SAR');
    await page.getByRole('button', { name: L.filter }).click();
    await page.waitForURL(/status=succeeded/);
    const rows = await page.locator('#refund-list tbody tr').count();
    assert.ok(rows >= 2, `the filtered list has ${rows} rows`);
    assert.equal(await page.locator('#refund-list tr[data-status]:not([data-status=succeeded])').count(), 0);
    await shot('refunds-filtered');
    await page.getByRole('link', { name: L.attention }).click();
    await page.waitForURL('**/console/attention');
    assert.match(await text('main'), L.nothingReview);
    await shot('attention');
    await page.getByRole('link', { name: L.discrepancies }).click();
    await page.waitForURL('**/console/discrepancies?status=open'); // the open ones the count is of
    assert.match(await text('main'), L.noDiscrepancies);
    await shot('discrepancies');
    await page.getByRole('button', { name: L.signOut }).click();
    await page.waitForURL(/signed_out/);
  });
  await context.close();
}

let failed = false;
try {
  for (const lang of ['en', 'ar']) await walk(lang);
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
console.log('screenshots:\n  ' + saved.join('\n  '));
console.log(failed ? 'console browser test: FAILED' : `console browser test: passed, ${saved.length} screenshots in ${shots}`);
process.exit(failed ? 1 : 0);
