# tenantkv: build with `docker build -t tenantkv .`, or use docker-compose.yml (MariaDB + the service).
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile better-sqlite3 and the TypeScript, then drop the dev dependencies ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 is a native module: prebuild-install fetches a binary when it can, else node-gyp compiles it.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# node:20 images ship npm 10, which ignores package.json's `allowScripts` and would run every dependency's
# install script; npm 11 runs only the allowed ones. To get the same result on either, install with no scripts
# and then run the one install script the service needs. The last step fails the build if the module won't load.
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
  CMD ["node", "-e", "require('http').get({host:'127.0.0.1',port:process.env.PORT||8080,path:'/healthz',timeout:4000},(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))"]
CMD ["node", "dist/src/server.js"]
