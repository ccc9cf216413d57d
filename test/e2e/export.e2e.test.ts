import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { textCell } from '../../src/infrastructure/audit/transactions-export';
import { headPosition, startLedger, storageTargets, TEST_JWT_SECRET, tokenFor, type LedgerStorage, type RunningLedger } from '../support/ledger-app';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'infrastructure', 'cli', 'ledger-cli.js');
const MANY_ROWS = 100_000;
/** Holding 100,000 rows (or their CSV) at once does not fit in this heap: checked by hand, it dies with an out-of-memory error. */
const HEAP_LIMIT_MB = 48;
const FEW_ROWS = 10_000;

/** Runs the export CLI into a file, sampling the process's resident memory until it exits. */
const exportWithPeakMemory = async (env: NodeJS.ProcessEnv, args: readonly string[]): Promise<{ code: number | null; peakRssMb: number; stderr: string }> => {
  const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_LIMIT_MB}`, CLI, 'export', 'transactions', ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let peakKb = 0;
  const sample = setInterval(() => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      peakKb = Math.max(peakKb, rss);
    } catch {
      // exited between samples
    }
  }, 10);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(sample);
  return { code, peakRssMb: peakKb / 1024, stderr };
};

describe.each(storageTargets())('transaction export on %s', (name, makeStorage) => {
  let storage: LedgerStorage;
  let ledger: RunningLedger;
  let auditor: string;
  let admin: string;

  beforeAll(async () => {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'pipe' });
    storage = await makeStorage();
    ledger = await startLedger(storage);
    auditor = await tokenFor('eve', 'auditor');
    admin = await tokenFor('ops', 'admin');
  });

  afterAll(async () => {
    await ledger.stop();
    await storage.dispose();
  });

  const http = () => request(ledger.baseUrl);

  it('exports one account as CSV that spreadsheets open as they are, and as JSON Lines', async () => {
    await http().post('/api/admin/accounts/sheet/grants').set('Authorization', `Bearer ${admin}`).send({ credits: '100', reason: '=HYPERLINK("http://evil")' }).expect(201);
    await http().post('/api/admin/accounts/sheet/adjustments').set('Authorization', `Bearer ${admin}`).send({ credits: '-1.5', reason: 'fix, "quoted"\nsecond line' }).expect(201);
    const used = await http().post('/api/credits/use').set('Authorization', `Bearer ${await tokenFor('sheet')}`).send({ service: 'sms', quantity: 3 }).expect(200);
    await http().post('/api/admin/accounts/other/grants').set('Authorization', `Bearer ${admin}`).send({ credits: '1', reason: 'elsewhere' }).expect(201);

    const csv = await http()
      .get(`/api/audit/transactions/export?accountId=sheet&format=csv&minPosition=${used.body.position}`)
      .set('Authorization', `Bearer ${auditor}`)
      .buffer(true)
      .parse((res, done) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => done(null, text));
      })
      .expect(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toBe('attachment; filename="transactions-sheet.csv"');
    const text = csv.body as string;
    expect(text.startsWith('\uFEFFaccount_id,transaction_id,type,credits,balance_after,service,quantity,description,occurred_at,position\r\n')).toBe(true);
    const lines = text.slice(1).split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines).toHaveLength(1 + 3 + 1);
    expect(lines[1]).toMatch(/^sheet,[^,]+,grant,100\.000,100\.000,,,"'=HYPERLINK\(""http:\/\/evil""\)",\d{4}-\d\d-\d\dT[\d:.]+Z,\d+$/);
    expect(lines[2]).toMatch(/^sheet,[^,]+,adjustment,-1\.500,98\.500,,,"fix, ""quoted""\nsecond line",/);
    expect(lines[3]).toMatch(/^sheet,[^,]+,usage,-3\.000,95\.500,sms,3,/);

    const jsonl = await http().get('/api/audit/transactions/export?accountId=sheet&format=jsonl').set('Authorization', `Bearer ${auditor}`).expect(200);
    expect(jsonl.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    const rows = jsonl.text.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(rows.map((row) => [row.type, row.credits, row.balanceAfter])).toEqual([
      ['grant', '100.000', '100.000'],
      ['adjustment', '-1.500', '98.500'],
      ['usage', '-3.000', '95.500'],
    ]);
    expect(rows[2]).toMatchObject({ accountId: 'sheet', service: 'sms', quantity: 3, position: used.body.position });
  });

  it('filters by time, and refuses users, services and bad formats', async () => {
    const future = new Date(Date.now() + 60_000).toISOString();
    const none = await http().get(`/api/audit/transactions/export?accountId=sheet&format=jsonl&from=${encodeURIComponent(future)}`).set('Authorization', `Bearer ${auditor}`).expect(200);
    expect(none.text).toBe('');
    await http().get('/api/audit/transactions/export?accountId=sheet').set('Authorization', `Bearer ${await tokenFor('sheet')}`).expect(403);
    await http().get('/api/audit/transactions/export?accountId=sheet').set('Authorization', `Bearer ${await tokenFor('svc', 'service')}`).expect(403);
    const bad = await http().get('/api/audit/transactions/export?format=xlsx').set('Authorization', `Bearer ${auditor}`).expect(400);
    expect(bad.body).toMatchObject({ error: 'validation_failed', fields: [expect.objectContaining({ field: 'query.format' })] });
  });

  it(`streams ${MANY_ROWS.toLocaleString('en-US')} rows from the CLI in a ${HEAP_LIMIT_MB} MB heap, with memory as flat as for ${FEW_ROWS.toLocaleString('en-US')}`, async () => {
    // Rows straight into the read model: the export reads nothing else, and 100,000 spends would only slow the test.
    const seed = (account: string, rows: number) =>
      ledger.sql.query(
        `INSERT INTO transactions (account_id, stream_revision, id, type, credits, balance_after, service, quantity, description, occurred_at, position)
         SELECT $1, n, 'usage-' || n, 'usage', -1000, 1000000000 - n * 1000, 'sms', 1, 'seeded spend number ' || n || ', with a comma',
                timestamptz '2026-01-01T00:00:00Z' + n * interval '1 second', 1000000 + n
           FROM generate_series(0, $2::int - 1) AS n`,
        [account, rows],
      );
    await seed('bulk-many', MANY_ROWS);
    await seed('bulk-few', FEW_ROWS);
    await ledger.stop(); // PGlite belongs to one process at a time
    const env = { ...process.env, ...storage.env, AUTH_JWT_SECRET: TEST_JWT_SECRET };
    const manyFile = join(tmpdir(), `export-many-${process.pid}.csv`);
    const fewFile = join(tmpdir(), `export-few-${process.pid}.csv`);
    try {
      const few = await exportWithPeakMemory(env, ['--account', 'bulk-few', '--format', 'csv', '--output', fewFile]);
      const many = await exportWithPeakMemory(env, ['--account', 'bulk-many', '--format', 'csv', '--output', manyFile]);
      expect([few.code, few.stderr]).toEqual([0, '']);
      expect([many.code, many.stderr]).toEqual([0, '']);

      const lines = readFileSync(manyFile, 'utf8').split('\r\n');
      expect(lines).toHaveLength(MANY_ROWS + 2);
      expect(lines[1]).toBe(`bulk-many,usage-0,usage,-1.000,1000000.000,sms,1,"seeded spend number 0, with a comma",2026-01-01T00:00:00.000Z,1000000`);
      expect(statSync(manyFile).size).toBeGreaterThan(9 * statSync(fewFile).size);
      process.stdout.write(`export peak RSS on ${name}: ${FEW_ROWS} rows ${few.peakRssMb.toFixed(1)} MB, ${MANY_ROWS} rows ${many.peakRssMb.toFixed(1)} MB\n`);
      // With a server the process holds only the export: ten times the rows, about the same memory.
      // Embedded PGlite's WebAssembly memory grows with the pages it reads and never shrinks, so
      // there the heap limit above is the check.
      if (name === 'postgres') expect(many.peakRssMb - few.peakRssMb).toBeLessThan(25);
    } finally {
      rmSync(manyFile, { force: true });
      rmSync(fewFile, { force: true });
      ledger = await startLedger(storage);
    }
  }, 180_000);

  it('refuses a bad --format or --from with one line and exit status 2', async () => {
    await headPosition(ledger.sql);
    await ledger.stop();
    const env = { ...process.env, ...storage.env, AUTH_JWT_SECRET: TEST_JWT_SECRET };
    try {
      const badFormat = await exportWithPeakMemory(env, ['--format', 'xlsx']);
      expect([badFormat.code, badFormat.stderr]).toEqual([2, '--format: expected csv or jsonl, got "xlsx"\n']);
      const badFrom = await exportWithPeakMemory(env, ['--from', 'last tuesday']);
      expect([badFrom.code, badFrom.stderr]).toEqual([2, '--from: expected an ISO-8601 time, got "last tuesday"\n']);
    } finally {
      ledger = await startLedger(storage);
    }
  }, 60_000);
});

describe('textCell', () => {
  it('quotes separators, quotes and line breaks, and defuses formulas', () => {
    expect(textCell('plain')).toBe('plain');
    expect(textCell('a,b')).toBe('"a,b"');
    expect(textCell('say "hi"')).toBe('"say ""hi"""');
    expect(textCell('two\nlines')).toBe('"two\nlines"');
    expect(textCell('=1+2')).toBe("'=1+2");
    expect(textCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(textCell('-cmd')).toBe("'-cmd");
    expect(textCell(' padded ')).toBe('" padded "');
  });
});
