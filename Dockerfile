# syntax=docker/dockerfile:1

# Build: all dependencies, compile src/ to dist/ with swc.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

# Runtime: production dependencies, the compiled service and its config only.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/config ./config
USER node
EXPOSE 3000
# node:*-slim has no curl or wget: ask the service itself with node.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "require('node:http').get('http://127.0.0.1:3000/health', (res) => process.exit(res.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"]
# The node flags of `npm start` (test/unit/infrastructure/start-command.test.ts keeps them equal):
# a 64 MB semi-space, so fewer request-lived objects are promoted, and an old generation let
# grow to 10× what the last major GC kept, so major GCs come less often (bench/README.md).
CMD ["node", "--max-semi-space-size=64", "--heap-growing-percent=900", "dist/main.js"]
