import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

/** The node flags a command line runs `entry` with (the words between its last `node` and `entry`); null when it does not end by running `entry`. */
const nodeFlagsOf = (words: readonly string[], entry = 'dist/main.js'): string[] | null => {
  const node = words.lastIndexOf('node');
  if (node < 0 || words.at(-1) !== entry) return null;
  return words.slice(node + 1, -1);
};

describe('how the service is started', () => {
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, unknown> }).scripts;
  const scriptFlags = (name: string, entry?: string): string[] | null => {
    const script = scripts[name];
    return typeof script === 'string' ? nodeFlagsOf(script.split(/\s+/), entry) : null;
  };
  const startFlags = scriptFlags('start');

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
    expect(scriptFlags('ledger', 'dist/infrastructure/cli/ledger-cli.js')).toEqual(['--max-semi-space-size=64']);
  });
});
