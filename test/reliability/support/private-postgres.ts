import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './service-process';

/**
 * A throwaway PostgreSQL cluster of our own, for the suites that kill or stop the
 * database: the machine's shared server on 5432 is never touched. `initdb` refuses to run
 * as root, so as root every cluster command runs as the `postgres` user (`runuser -u
 * postgres --`) in a folder it owns; as any other user they run directly.
 */
export interface PrivatePostgres {
  readonly url: string;
  readonly port: number;
  start(): Promise<void>;
  /** `pg_ctl stop -m immediate`: like pulling the plug (no checkpoint, clients cut off). */
  stopImmediately(): void;
  destroy(): Promise<void>;
}

const BIN_ROOT = '/usr/lib/postgresql';

export const postgresBinDir = (): string => {
  const fromEnv = process.env['POSTGRES_BIN_DIR'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const found = existsSync(BIN_ROOT)
    ? execFileSync('ls', [BIN_ROOT], { encoding: 'utf8' })
        .split('\n')
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))[0]
    : undefined;
  if (found === undefined) throw new Error(`no PostgreSQL binaries under ${BIN_ROOT}; set POSTGRES_BIN_DIR`);
  return join(BIN_ROOT, found, 'bin');
};

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const run = (binary: string, args: readonly string[]): string => {
  const command = asRoot ? 'runuser' : binary;
  const argv = asRoot ? ['-u', 'postgres', '--', binary, ...args] : [...args];
  return execFileSync(command, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
};

export const createPrivatePostgres = async (): Promise<PrivatePostgres> => {
  const bin = postgresBinDir();
  const root = mkdtempSync(join(tmpdir(), 'ledger-pg-'));
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(root, uid, gid);
  }
  chmodSync(root, 0o700);
  const dataDir = join(root, 'data');
  run(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-N', '-E', 'UTF8', '--locale=C']);
  const port = await freePort();
  const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200`;
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const start = async (): Promise<void> => {
    run(join(bin, 'pg_ctl'), ['-D', dataDir, '-o', options, '-l', join(root, 'server.log'), '-w', '-t', '60', 'start']);
    await waitForConnections(url);
  };
  await start();
  return {
    url,
    port,
    start,
    stopImmediately: () => {
      run(join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
    },
    destroy: async () => {
      try {
        run(join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
};

const waitForConnections = async (url: string): Promise<void> => {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
};
