import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const LOCK_FILE = 'ledger.pid';

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * An embedded database belongs to one process: a second one (the service and a CLI
 * at once) would corrupt it. The first takes a pid file; a pid file of a dead process
 * is taken over. Returns the release.
 */
export const claimDataDir = (dataDir: string): (() => void) => {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(file, 'utf8'));
      if (Number.isSafeInteger(holder) && holder !== process.pid && isRunning(holder)) {
        throw new Error(`the embedded database in ${dataDir} is in use by process ${holder}; stop it first (or use DATABASE_URL)`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new Error(`could not claim ${file}`);
};
