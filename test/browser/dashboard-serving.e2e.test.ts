import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLedger, storageTargets, type LedgerStorage, type RunningLedger } from '../support/ledger-app';

const ROOT = join(__dirname, '..', '..');

/** The service serves the built dashboard itself, without a token; no browser needed here. */
describe.each(storageTargets())('the dashboard files served by the service on %s', (_name, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;

  beforeAll(async () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-dashboard.mjs')], { stdio: 'pipe' });
    storage = await makeStorage();
    ledger = await startLedger(storage);
  }, 60_000);

  afterAll(async () => {
    await ledger.stop();
    await storage.dispose();
  });

  it('serves the page, its script and its styles to anyone, and 404 for other files', async () => {
    for (const path of ['/dashboard', '/dashboard/']) {
      const page = await fetch(`${ledger.baseUrl}${path}`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const html = await page.text();
      expect(html).toContain('<script src="/dashboard/app.js"></script>');
      // A configured secret: no development tokens, so the page must not offer them.
      expect(html).toContain('<meta name="ledger-dev-tokens" content="disabled">');
    }
    const script = await fetch(`${ledger.baseUrl}/dashboard/app.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^(application|text)\/javascript/);
    expect((await script.text()).length).toBeGreaterThan(10_000);
    const styles = await fetch(`${ledger.baseUrl}/dashboard/app.css`);
    expect(styles.status).toBe(200);
    expect(styles.headers.get('content-type')).toMatch(/^text\/css/);
    const missing = await fetch(`${ledger.baseUrl}/dashboard/nothing-here.js`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: 'not_found' });
  });

  it('tells the page that development tokens exist when the service runs on its development secret', async () => {
    const devStorage = await makeStorage();
    const dataDir = mkdtempSync(join(tmpdir(), 'ledger-dev-page-'));
    const dev = await startLedger(devStorage, { AUTH_JWT_SECRET: '', LEDGER_DATA_DIR: dataDir });
    try {
      const html = await (await fetch(`${dev.baseUrl}/dashboard`)).text();
      expect(html).toContain('<meta name="ledger-dev-tokens" content="enabled">');
    } finally {
      await dev.stop();
      await devStorage.dispose();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
