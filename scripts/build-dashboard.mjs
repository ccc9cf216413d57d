#!/usr/bin/env node
// Bundles the dashboard (dashboard/src, React + chart.js) into dist/dashboard: index.html,
// app.js, app.css. The service serves that folder at /dashboard. Run by `npm run build`.
import { cpSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'dist', 'dashboard');
// Build beside the target and swap it in, so a running service never serves half a build.
const staging = join(root, 'dist', `.dashboard-${process.pid}`);

rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
try {
  const result = await build({
    entryPoints: { app: join(root, 'dashboard', 'src', 'main.tsx') },
    outdir: staging,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2022'],
    jsx: 'automatic',
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
    metafile: true,
  });
  cpSync(join(root, 'dashboard', 'index.html'), join(staging, 'index.html'));
  // Another build may swap its folder in between the two steps: try again a few times.
  for (let attempt = 1; ; attempt += 1) {
    rmSync(target, { recursive: true, force: true });
    try {
      renameSync(staging, target);
      break;
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }
  const bytes = Object.entries(result.metafile.outputs)
    .filter(([file]) => !file.endsWith('.map'))
    .map(([file, output]) => `${file.split('/').pop()} ${Math.round(output.bytes / 1024)} KiB`);
  process.stdout.write(`dashboard built into dist/dashboard (${bytes.join(', ')})\n`);
} catch (error) {
  rmSync(staging, { recursive: true, force: true });
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
