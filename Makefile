# The two commands a new machine needs: `make run` and `make test`.
NODE_MODULES := node_modules/.package-lock.json

.PHONY: run test test-cluster bench-cluster lint lint-api generate format build build-client build-cli bench bench-ab bench-feed bench-export install clean

# npm ci prints next to nothing while better-sqlite3 compiles, so say what is going on first.
$(NODE_MODULES): package.json package-lock.json
	@echo "installing dependencies (npm ci): better-sqlite3 compiles from source when no prebuilt binary can be downloaded,"
	@echo "which takes about 2 minutes on 2 cores (1 min 39 s measured here) and prints one line when it is done."
	npm ci --no-audit --no-fund

install: $(NODE_MODULES)

build: $(NODE_MODULES) build-client build-cli
	npx tsc -p tsconfig.build.json

## @tenantkv/client: CommonJS and declarations in packages/client/dist, ES modules for browsers in dist/esm
build-client: $(NODE_MODULES)
	npm run --silent build --workspace packages/client

## the `tenantkv` command line (packages/cli/dist/main.js), on the client's build
build-cli: build-client
	npm run --silent build --workspace packages/cli

## install, build, migrate (on start) and serve; embedded SQLite unless DATABASE_URL is set
run: build
	NODE_ENV=$${NODE_ENV:-production} node dist/src/server.js

## the whole suite: unit tests, and integration tests on MariaDB/MySQL and SQLite
test: $(NODE_MODULES)
	npx jest --runInBand --json --outputFile=.jest-results.json

## several instances on a 3-node MariaDB Galera cluster (started on ports 3511-3513 and stopped again; docs/SCALE-OUT.md)
test-cluster: $(NODE_MODULES)
	bash test/cluster/run.sh

## the figures of docs/SCALE-OUT.md: one instance on one node against two on two, hot and spread tenants
bench-cluster: $(NODE_MODULES)
	bash test/cluster/run.sh --testMatch '<rootDir>/test/cluster/measure.bench.ts'

lint: $(NODE_MODULES) lint-api build-client
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p packages/client/tsconfig.json --noEmit
	npx tsc -p packages/cli/tsconfig.json --noEmit
	npx eslint .
	npx prettier --check .

## swagger.yaml against Redocly's recommended rules and redocly.yaml (no telemetry, no update check)
lint-api: $(NODE_MODULES)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx redocly lint swagger.yaml

## docs/CONFIGURATION.md from .env.template, and the client's types (packages/client/src/api.ts) from swagger.yaml
generate: $(NODE_MODULES)
	npx tsc -p scripts/tsconfig.json
	node dist/scripts/generate.js

format: $(NODE_MODULES)
	npx prettier --write .

## the benchmark against the raw database (QUICK=1: one second a scenario, no targets)
bench: build
	npx tsc -p bench/tsconfig.json
	QUICK=$(QUICK) node dist-bench/bench/run.js

## the working tree against BASE (a git ref, default HEAD), both running at once, load alternated (QUICK=1: a smoke run)
bench-ab: build
	npx tsc -p bench/tsconfig.json
	BASE=$(BASE) QUICK=$(QUICK) node dist-bench/bench/ab.js

## how long a change takes to reach a change stream, on the forked service (QUICK=1: a smoke run)
bench-feed: build
	npx tsc -p bench/tsconfig.json
	QUICK=$(QUICK) node dist-bench/bench/feed.js

## export throughput (objects/s) and the worker's RSS for 1,000,000 keys on MariaDB (QUICK=1: 20,000 keys)
bench-export: build
	npx tsc -p bench/tsconfig.json
	QUICK=$(QUICK) node dist-bench/bench/export.js

clean:
	rm -rf dist dist-bench dist-test packages/client/dist packages/cli/dist .jest-results.json .jest-cluster-results.json
