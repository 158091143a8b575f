# tenantkv: build with `docker build -t tenantkv .`, or use docker-compose.yml (MariaDB + the service).
# Node 24 LTS (Node 20 reached its end of life on 2026-04-30). Another Node ≥ 20 image can be chosen with
# --build-arg NODE_IMAGE=… (node:22-bookworm-slim, the previous LTS, for example).
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: compile better-sqlite3 and the TypeScript, then drop the dev dependencies ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 is a native module: prebuild-install fetches a binary when it can, else node-gyp compiles it.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# package.json's `allowScripts` names the one dependency whose install script should run, but whether npm honours
# it depends on its version: npm 10 (node:20, node:22) ignores it and runs every dependency's script, and node:24
# images bundle an npm 11 release that may or may not read it. So install with no scripts at all, then run the one
# script the service needs: the same result with any npm. The last step fails the build if the module won't load.
RUN npm ci --ignore-scripts --no-audit --no-fund \
  && npm rebuild better-sqlite3 \
  && node -e "new (require('better-sqlite3'))(':memory:').close()"
COPY tsconfig.json tsconfig.build.json swagger.yaml ./
COPY src ./src
COPY db ./db
RUN npx tsc -p tsconfig.build.json \
  && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: only what `node dist/src/server.js` reads ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
  DATA_DIR=/data \
  PORT=8080
WORKDIR /app
# Owned by root and read-only to the service user; only /data is writable.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/package.json /app/swagger.yaml ./
RUN mkdir -p /data && chown node:node /data
USER node
# The embedded SQLite database and its generated JWT secret live here when DATABASE_URL is unset.
VOLUME ["/data"]
EXPOSE 8080
# The slim image has no curl: ask node. /healthz answers 200 while the process serves (/readyz also checks the DB).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const t=!!process.env.TLS_CERT_FILE;require(t?'https':'http').get({host:'127.0.0.1',port:process.env.PORT||8080,path:'/healthz',timeout:4000,rejectUnauthorized:false},(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))"]
CMD ["node", "dist/src/server.js"]
