# syntax=docker/dockerfile:1
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# .npmrc sets loglevel=silent (README, "npm's output"): the install is given a level, so that it says what goes wrong.
RUN npm ci --no-audit --no-fund --loglevel=warn
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
# scripts/soak.ts (built with the rest) uses this test helper.
COPY test/helpers/tcp-proxy.ts ./test/helpers/
RUN npm run build && npm prune --omit=dev --no-audit --no-fund --loglevel=warn

FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
# No src/ and no TypeScript here: the build check that the npm scripts run first (npm start, npm run
# migrate, npm run sync, ...) finds no sources and runs dist/ as it is. test/process/image-layout.test.ts
# runs them in a directory laid out like this stage.
COPY --chown=node:node package.json .npmrc ./
COPY --chown=node:node scripts/build-if-stale.js ./scripts/
COPY --chown=node:node bin ./bin
COPY --chown=node:node config ./config
# secrets/ (START_TOKEN_FILE, SECRETS_KEY_FILE) must be writable by the gateway and no one else.
RUN install -d -o node -g node -m 0700 /app/secrets
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "const p=process.env.TLS_CERT_FILE?'https':'http';require(p).get(p+'://127.0.0.1:'+(process.env.PORT||8080)+'/healthz',{rejectUnauthorized:false},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
# node itself, not npm: it is PID 1 and gets docker stop's SIGTERM directly.
CMD ["node", "dist/src/main.js"]
