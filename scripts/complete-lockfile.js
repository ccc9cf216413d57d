#!/usr/bin/env node
// The npm registry reachable here does not serve every platform build of packages that
// ship native binaries as optional dependencies (@swc/core-darwin-arm64, …), so
// `npm install` leaves them out of package-lock.json and `npm ci` then refuses the lock
// as out of sync. This adds an entry for each missing platform package, with the os/cpu
// its name declares, so that `npm ci` skips it on other platforms as it should.
// Run after `npm install`: node scripts/complete-lockfile.js
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');

const lockPath = `${__dirname}/../package-lock.json`;
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const packages = lock.packages;
const PLATFORM = /-(android|darwin|freebsd|linux|openharmony|win32)-(arm64|arm|x64|ia32|ppc64|s390x|loong64|riscv64)(?:-(gnu|gnueabihf|musl|musleabihf|msvc|eabi))?$/;

let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const target = `${path ? `${path}/` : ''}node_modules/${name}`;
    const hoisted = `node_modules/${name}`;
    if (packages[target] || packages[hoisted]) continue;
    const platform = PLATFORM.exec(name);
    if (!platform) continue;
    const [, os, cpu, abi] = platform;
    packages[hoisted] = {
      version,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      os: [os],
      cpu: [cpu],
      ...(os === 'linux' && abi ? { libc: [abi.startsWith('musl') ? 'musl' : 'glibc'] } : {}),
    };
    added += 1;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)));
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(`complete-lockfile: added ${added} platform entries\n`);
