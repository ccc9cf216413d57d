import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

/** The node flags before dist/main.js in a command line; null when it does not run dist/main.js. */
const nodeFlagsOf = (words: readonly string[]): string[] | null => {
  const main = words.indexOf('dist/main.js');
  if (words[0] !== 'node' || main < 0 || main !== words.length - 1) return null;
  return words.slice(1, main);
};

describe('how the service is started', () => {
  const startScript: unknown = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, unknown> }).scripts['start'];
  const startFlags = typeof startScript === 'string' ? nodeFlagsOf(startScript.split(/\s+/)) : null;

  it('npm start runs dist/main.js with a larger young generation and an old one that grows 10× before a major GC (the tail latency at moderate load is set by major GCs)', () => {
    expect(startFlags).toEqual(['--max-semi-space-size=64', '--heap-growing-percent=900']);
  });

  it('the Docker image runs it with the same node flags as npm start', () => {
    const cmd = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('CMD '))
      .at(-1);
    expect(cmd).toBeDefined();
    const words = JSON.parse((cmd ?? '').slice('CMD '.length)) as string[];
    expect(nodeFlagsOf(words)).toEqual(startFlags);
  });

  it('the command-line tool (npm run ledger, and so projections:rebuild) runs with the same 64 MB semi-space: a rebuild, whose pages in hand survive every scavenge, then scavenges a quarter as often', () => {
    const ledgerScript: unknown = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, unknown> }).scripts['ledger'];
    expect(typeof ledgerScript).toBe('string');
    const words = String(ledgerScript).split(/\s+/);
    const node = words.lastIndexOf('node');
    expect(words.at(-1)).toBe('dist/infrastructure/cli/ledger-cli.js');
    expect(words.slice(node + 1, -1)).toEqual(['--max-semi-space-size=64']);
  });
});
