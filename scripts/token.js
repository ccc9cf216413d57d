#!/usr/bin/env node
// Mints a development token: npm run token -- --sub alice --role user [--ttl 3600]
// Signs with AUTH_JWT_SECRET, or the development secret the service keeps in its data folder.
'use strict';
const { parseArgs } = require('node:util');
const { join, resolve } = require('node:path');
const { existsSync, readFileSync } = require('node:fs');
const { SignJWT } = require('jose');

const ROLES = ['user', 'service', 'admin', 'auditor'];
const { values } = parseArgs({
  options: {
    sub: { type: 'string' },
    role: { type: 'string', default: 'user' },
    ttl: { type: 'string', default: '3600' },
  },
});

const fail = (message) => {
  process.stderr.write(`${message}\nusage: npm run token -- --sub <accountId> [--role ${ROLES.join('|')}] [--ttl seconds]\n`);
  process.exit(2);
};

if (!values.sub) fail('--sub is required');
if (!ROLES.includes(values.role)) fail(`--role must be one of ${ROLES.join(', ')}`);
const ttlSeconds = Number(values.ttl);
if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) fail('--ttl must be a positive number of seconds');

const secretFile = join(resolve(process.env.LEDGER_DATA_DIR || 'data'), 'dev-jwt-secret');
const secret = process.env.AUTH_JWT_SECRET || (existsSync(secretFile) ? readFileSync(secretFile, 'utf8').trim() : undefined);
if (!secret) fail(`no AUTH_JWT_SECRET and no ${secretFile}: start the service once (npm start) to create the development secret`);

new SignJWT({ role: values.role })
  .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
  .setSubject(values.sub)
  .setIssuedAt()
  .setExpirationTime(`${ttlSeconds}s`)
  .sign(new TextEncoder().encode(secret))
  .then((token) => process.stdout.write(`${token}\n`));
