/**
 * Layer rules, checked in `npm test`. The domain is pure; the application knows the
 * domain and its own ports; infrastructure and projections sit outside. No cycles.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Cycles hide the real direction of dependencies.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment: 'src/domain imports only src/domain: no framework, driver, Node API or outer layer.',
      from: { path: '^src/domain/' },
      to: { pathNot: '^src/domain/' },
    },
    {
      name: 'no-barrels-in-domain',
      severity: 'error',
      comment: 'No index.ts barrels inside src/domain (STYLE.md 8).',
      from: {},
      to: { path: '^src/domain/.*index[.]ts$' },
    },
    {
      name: 'application-knows-no-adapters',
      severity: 'error',
      comment: 'The application layer depends on the domain and on ports, never on adapters.',
      from: { path: '^src/application/' },
      to: { path: '^src/(infrastructure|projections)/' },
    },
    {
      name: 'application-uses-no-drivers',
      severity: 'error',
      comment: 'Drivers (pg, PGlite, EventStoreDB, Stripe, Fastify) belong to infrastructure.',
      from: { path: '^src/(application|domain)/' },
      to: { dependencyTypes: ['npm'], path: '(^|/)node_modules/(pg|@electric-sql|@eventstore|stripe|fastify|@nestjs/platform-fastify)(/|$)' },
    },
    {
      name: 'projections-do-not-use-http',
      severity: 'error',
      comment: 'Projections use the domain, application ports and the Postgres client; not the HTTP layer.',
      from: { path: '^src/projections/' },
      to: { path: '^src/infrastructure/(http|auth)/' },
    },
    {
      name: 'no-async-hooks',
      severity: 'error',
      comment:
        'AsyncLocalStorage and async hooks turn on a hook for every promise of the process on Node 20: ' +
        'request ids are passed explicitly instead (src/infrastructure/observability/request-context.ts).',
      from: { path: '^src/' },
      to: { dependencyTypes: ['core'], path: '^(node:)?async_hooks$' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    parser: 'swc',
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json', '.d.ts'] },
  },
};
