import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createLedgerClient } from '../../client/src/index';
import { freePort, startLedger, storageTargets, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';

// page.evaluate callbacks run in the page; the root tsconfig has no DOM library, so they see these.
interface PageElement {
  readonly id: string;
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): { readonly length: number };
  readonly activeElement: PageElement | null;
  readonly documentElement: { readonly scrollWidth: number };
};
declare const window: { readonly innerWidth: number };
declare const sessionStorage: { getItem(key: string): string | null };
interface PageCanvas {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, width: number, height: number): { readonly data: Uint8ClampedArray } } | null;
}

const CHROMIUM = '/usr/bin/chromium';
const ROOT = join(__dirname, '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts', 'dashboard');
const haveChromium = existsSync(CHROMIUM);

if (!haveChromium) {
  // .ci/run installs Debian's chromium; without it these tests cannot run (never a downloaded browser).
  console.warn(`SKIPPED: dashboard browser tests need Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
}

const describeWithBrowser = haveChromium ? describe.each(storageTargets()) : describe.skip.each(storageTargets());

describeWithBrowser('the dashboard in headless Chromium on %s', (storageName, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;
  let browser: Browser;
  let baseUrl: string;

  const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${storageName}-${name}.png`), fullPage: true });
  const balanceText = (page: Page) => page.getByTestId('balance').innerText();
  const waitForBalance = (page: Page, text: string, timeout = 10_000) =>
    page.waitForFunction((expected) => document.querySelector('[data-testid="balance"]')?.textContent === expected, text, { timeout, polling: 20 });

  const signIn = async (page: Page, accountId: string) => {
    await page.goto(`${baseUrl}/dashboard`);
    await page.getByLabel('Access token').fill(await tokenFor(accountId));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await waitForBalance(page, '0.000 credits');
  };

  beforeAll(async () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-dashboard.mjs')], { stdio: 'pipe' });
    mkdirSync(ARTIFACTS, { recursive: true });
    storage = await makeStorage();
    // The simulated checkout's links name PUBLIC_BASE_URL, so the service listens on a known port.
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    ledger = await startLedger(storage, { PUBLIC_BASE_URL: baseUrl }, { port });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await ledger?.stop();
    await storage?.dispose();
  });

  it('signs in, buys starter through the simulated checkout, follows a spend live, pages the history and charts the usage', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await signIn(page, 'nora');
      await page.getByTestId('low-balance').waitFor();
      await shot(page, '01-signed-in');

      await page.getByRole('button', { name: /^Buy Starter/ }).click();
      await page.waitForURL(/\/checkout\/simulated\?session=/);
      await shot(page, '02-simulated-checkout');
      await page.getByRole('button', { name: /^Pay/ }).click();
      await page.waitForURL(/\/dashboard\/\?checkout=success|\/dashboard\/$/);
      await waitForBalance(page, '100.000 credits');
      await page.getByTestId('low-balance').waitFor({ state: 'detached' });
      expect(await page.getByRole('status').innerText()).toContain('Payment complete');
      await shot(page, '03-bought-starter');

      // Another client (a backend with a service token) spends; the open page follows without a reload.
      await page.evaluate(() => Object.assign(globalThis, { notReloaded: true }));
      await page.getByText('Live', { exact: true }).waitFor();
      const backend = createLedgerClient({ baseUrl, token: await tokenFor('billing', 'service') });
      const spentAt = Date.now();
      await backend.use('sms', 15, { accountId: 'nora' });
      await waitForBalance(page, '85.000 credits', 5000);
      expect(Date.now() - spentAt).toBeLessThan(1000);
      expect(await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded)).toBe(true);
      await shot(page, '04-live-update');

      // Eleven more spends: thirteen entries in all, two pages of ten.
      for (let spend = 0; spend < 11; spend += 1) await backend.use('gpt-3.5', 1000, { accountId: 'nora' });
      await waitForBalance(page, '63.000 credits');
      const rows = page.getByTestId('transactions').locator('tbody tr');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="transactions"] tbody tr').length === 10);
      expect(await rows.first().innerText()).toContain('gpt-3.5');
      await page.getByRole('button', { name: 'Older' }).click();
      await page.getByText('Page 2, newest first').waitFor();
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="transactions"] tbody tr').length === 3);
      expect(await rows.last().innerText()).toContain('purchase');
      await shot(page, '05-history-page-2');
      await page.getByRole('button', { name: 'Newer' }).click();
      await page.getByText('Page 1, newest first').waitFor();
      await page.getByLabel('Type').selectOption('purchase');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="transactions"] tbody tr').length === 1);
      expect(await rows.first().innerText()).toMatch(/purchase[\s\S]*100\.000/);

      // The usage chart and its table show the spends: 15 sms, and 11 × 1000 gpt-3.5 tokens at 2 credits per 1000.
      const usage = page.getByTestId('usage-table');
      await page.waitForFunction(() => document.querySelector('[data-testid="usage-table"]')?.textContent?.includes('22.000') === true);
      expect(await usage.innerText()).toMatch(/sms\s+15\s+15\.000/);
      expect(await usage.innerText()).toMatch(/gpt-3\.5\s+11,000\s+22\.000/);
      const painted = await page.getByTestId('usage-chart').evaluate((canvas) => {
        const context = (canvas as unknown as PageCanvas).getContext('2d');
        const { width, height } = canvas as unknown as PageCanvas;
        const pixels = context?.getImageData(0, 0, width, height).data ?? new Uint8ClampedArray();
        let colored = 0;
        for (let index = 0; index < pixels.length; index += 4) if ((pixels[index + 3] ?? 0) > 0) colored += 1;
        return colored;
      });
      expect(painted).toBeGreaterThan(1000);
      await page.getByTestId('usage-chart').scrollIntoViewIfNeeded();
      await shot(page, '06-usage-chart');
      await page.getByRole('radio', { name: 'day', exact: true }).check();
      await page.waitForFunction(() => /\d{4}-\d{2}-\d{2}/.test(document.querySelector('[data-testid="usage-table"]')?.textContent ?? ''));
      expect(await usage.innerText()).toContain(`${new Date().toISOString().slice(0, 10)}`);
      expect(await balanceText(page)).toBe('63.000 credits');

      // The open reservations come from the service: a hold made from the page is listed, and so is
      // one another client makes through the API, without a reload (the balance event refreshes the list).
      const held = page.getByTestId('open-reservations').locator('li');
      const heldRows = (count: number) =>
        page.waitForFunction((expected) => document.querySelectorAll('[data-testid="open-reservations"] li').length === expected, count, { timeout: 5000 });
      await page.getByText('No open reservations.').waitFor();
      await page.locator('#hold-service').selectOption('voice_call');
      await page.locator('#hold-quantity').fill('120');
      await page.getByRole('button', { name: 'Hold', exact: true }).click();
      await page.getByText(/^Held 2\.000 credits until/).waitFor();
      await waitForBalance(page, '61.000 credits');
      await heldRows(1);
      expect(await held.first().innerText()).toMatch(/^2\.000 for voice_call/);
      const elsewhere = await backend.reserve('sms', 3, { accountId: 'nora', ttlSeconds: 900 });
      await waitForBalance(page, '58.000 credits', 5000);
      await heldRows(2);
      expect(await held.nth(1).innerText()).toMatch(/^3\.000 for sms/);
      expect(await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded)).toBe(true);
      await shot(page, '09-reservation');
      // Release from the list with the keyboard; the hold the other client made is released by it, and leaves the list too.
      await page.getByRole('button', { name: 'Release 2.000 held for voice_call' }).focus();
      await page.keyboard.press('Enter');
      await page.getByText('Released 2.000 credits.').waitFor();
      await heldRows(1);
      await waitForBalance(page, '60.000 credits');
      expect(await held.first().innerText()).toMatch(/^3\.000 for sms/);
      await backend.release(elsewhere.reservationId);
      await page.getByText('No open reservations.').waitFor({ timeout: 5000 });
      await waitForBalance(page, '63.000 credits');

      // The spend form runs on the useCredits hook: hasEnoughCredits gates the button (exact rate-card pricing), use() spends.
      await page.locator('#spend-service').selectOption('gpt-4');
      await page.locator('#spend-quantity').fill('1051');
      await page.getByText('Not enough credits for this.').waitFor();
      expect(await page.getByRole('button', { name: 'Spend' }).isDisabled()).toBe(true);
      await page.locator('#spend-quantity').fill('1050');
      await page.getByText('You have enough credits.').waitFor();
      await page.getByRole('button', { name: 'Spend' }).click();
      await page.getByText('Charged 63.000 credits for 1050 × gpt-4.').waitFor();
      await waitForBalance(page, '0.000 credits');
      await page.getByTestId('low-balance').waitFor();
      await shot(page, '10-spent-through-the-hook');
    } finally {
      await page.close();
    }
  }, 90_000);

  it('fits a 375px-wide screen without sideways scrolling', async () => {
    const page = await browser.newPage({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
    try {
      await signIn(page, 'otto');
      await page.getByRole('heading', { name: 'What services cost' }).waitFor();
      await page.waitForFunction(() => document.querySelectorAll('.packages li').length === 3);
      const widths = await page.evaluate(() => ({ document: document.documentElement.scrollWidth, viewport: window.innerWidth }));
      expect(widths.viewport).toBe(375);
      expect(widths.document).toBeLessThanOrEqual(375);
      const buy = await page.getByRole('button', { name: /^Buy Starter/ }).boundingBox();
      expect(buy).not.toBeNull();
      expect((buy?.x ?? 0) + (buy?.width ?? 0)).toBeLessThanOrEqual(375);
      expect(buy?.height ?? 0).toBeGreaterThanOrEqual(44);
      await shot(page, '07-375px');
    } finally {
      await page.close();
    }
  }, 60_000);

  it('signs in and reaches the buy buttons with the keyboard alone', async () => {
    const page = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    try {
      await page.goto(`${baseUrl}/dashboard`);
      await page.getByLabel('Access token').waitFor();
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('token');
      await page.keyboard.type(await tokenFor('pia'));
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Sign in');
      await page.keyboard.press('Enter');
      await waitForBalance(page, '0.000 credits');
      expect(await page.evaluate(() => sessionStorage.getItem('credit-ledger.token')?.split('.').length)).toBe(3);
      const reached: string[] = [];
      for (let press = 0; press < 30; press += 1) {
        await page.keyboard.press('Tab');
        const label = await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.textContent ?? '');
        reached.push(label);
        if (label.startsWith('Buy Starter')) break;
      }
      expect(reached[reached.length - 1]).toMatch(/^Buy Starter/);
      expect(reached).toContain('Sign out');
      await shot(page, '08-keyboard');
      await page.keyboard.press('Enter');
      await page.waitForURL(/\/checkout\/simulated\?session=/);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('offers "Get a development token" only when the service runs on its development secret', async () => {
    const page = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    const devStorage = await makeStorage();
    const dataDir = mkdtempSync(join(tmpdir(), 'ledger-dev-dashboard-'));
    const dev = await startLedger(devStorage, { AUTH_JWT_SECRET: '', LEDGER_DATA_DIR: dataDir });
    try {
      await page.goto(`${baseUrl}/dashboard`);
      await page.getByLabel('Access token').waitFor();
      expect(await page.getByRole('button', { name: 'Get a development token' }).count()).toBe(0);

      await page.goto(`${dev.baseUrl}/dashboard`);
      await page.getByLabel('Account id').fill('devi');
      await page.getByLabel('Role').selectOption('user');
      await shot(page, '11-development-sign-in');
      await page.getByRole('button', { name: 'Get a development token' }).click();
      await waitForBalance(page, '0.000 credits');
      expect(await page.getByText('Signed in as').innerText()).toBe('Signed in as devi');
    } finally {
      await page.close();
      await dev.stop();
      await devStorage.dispose();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
