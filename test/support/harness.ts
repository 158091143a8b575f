import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import request from 'supertest';
import { loadConfig, type Config } from '../../src/platform/config';
import type { Db } from '../../src/platform/db/database';
import type { Clock } from '../../src/platform/clock';
import { createLogger } from '../../src/platform/logger';
import { createContainer, type Container, type ContainerOptions } from '../../src/container';
import { buildApp } from '../../src/app';
import { TenantRepository } from '../../src/features/tenants';
import { LOGIN_SCOPES, type TokenService } from '../../src/features/auth';
import { TEST_MYSQL_URL, targets, type TargetName } from './targets';

export const JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';

/** A clock the test moves by hand; starts at the real time. */
export class TestClock implements Clock {
  offsetSeconds = 0;
  /** When set, the clock stands still at this instant (plus the offset): for tests at an exact second. */
  frozenAtMs: number | undefined;
  nowMs(): number {
    return (this.frozenAtMs ?? Date.now()) + this.offsetSeconds * 1000;
  }
  /** Stops the clock at the start of the current second, so that "now" cannot tick over mid-test. */
  freeze(): number {
    this.frozenAtMs = Math.floor(Date.now() / 1000) * 1000;
    return this.nowSeconds();
  }
  reset(): void {
    this.offsetSeconds = 0;
    this.frozenAtMs = undefined;
  }
  nowSeconds(): number {
    return Math.floor(this.nowMs() / 1000);
  }
}

export interface Harness {
  target: TargetName;
  config: Config;
  container: Container;
  db: Db;
  app: Express;
  clock: TestClock;
  tokens: TokenService;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Settings as the environment would give them. */
  env?: Record<string, string>;
  /** Settings loadConfig cannot read from the environment. */
  config?: Partial<Config>;
  writeStrategy?: ContainerOptions['writeStrategy'];
  /** Another process's view of the same database shares nothing but the database: its own clock, caches, app. */
  clock?: TestClock;
}

export function testConfig(target: TargetName, env: Record<string, string> = {}, config: Partial<Config> = {}): Config {
  return loadConfig(
    { NODE_ENV: 'test', DATA_DIR: process.env.TENANTKV_TEST_DATA_DIR as string, JWT_SECRET_KEY: JWT_SECRET, ...env },
    { databaseUrl: target === 'mysql' ? TEST_MYSQL_URL : undefined, dbPoolMax: 20, ...config },
  );
}

/**
 * An app on the shared, already migrated test database of `target`, built by the service's own composition
 * root with a test clock; nothing runs in the background (no purge timer, no access poll) unless a test starts
 * it. Each test makes its own tenants.
 */
export async function harness(target: TargetName, options: HarnessOptions = {}): Promise<Harness> {
  const config = testConfig(target, options.env, options.config);
  const clock = options.clock ?? new TestClock();
  const container = await createContainer(config, createLogger(config), {
    clock,
    writeStrategy: options.writeStrategy,
  });
  let closing: Promise<void> | undefined;
  const h: Harness = {
    target,
    config,
    container,
    db: container.db,
    app: buildApp(container),
    clock,
    tokens: container.tokens,
    close: () => {
      open.delete(h);
      return (closing ??= container.close());
    },
  };
  open.add(h);
  return h;
}

/** Harnesses a test made for itself: closed after it, whether it passed or not (describeTargets). */
const open = new Set<Harness>();

/**
 * The setup every integration file shares: `body` runs once per database target, with a harness made before
 * its tests and closed after them, and its clock reset before each test. The harness object is filled in by
 * beforeAll, so tests use it as `h.app`, `h.db`…
 */
export function describeTargets(
  name: string,
  body: (h: Harness, target: TargetName) => void,
  options: HarnessOptions | ((target: TargetName) => HarnessOptions) = {},
): void {
  describe.each(targets())(`${name} on %s`, (target) => {
    const h = {} as Harness;
    beforeAll(async () => {
      const made = await harness(target, typeof options === 'function' ? options(target) : options);
      open.delete(made);
      Object.assign(h, made);
    });
    afterAll(() => h.close());
    beforeEach(() => h.clock.reset());
    afterEach(async () => {
      await Promise.all([...open].map((other) => other.close()));
    });
    body(h, target);
  });
}

export function uniqueName(prefix = 't'): string {
  return `${prefix}-${crypto.randomBytes(6).toString('hex')}`;
}

export interface TestTenant {
  id: number;
  name: string;
  token: string;
  auth: { Authorization: string };
}

/**
 * A tenant made straight in the database with a token signed like a login token: fast, for bulk tests. It keeps
 * `historyDepth` versions per key (default: the harness's HISTORY_DEPTH, 0 unless set).
 */
export async function makeTenant(
  h: Harness,
  provisioned = 1024 * 1024,
  historyDepth = h.config.historyDepth,
): Promise<TestTenant> {
  const name = uniqueName();
  const id = (await new TenantRepository(h.db.sql).create(
    { userName: name, passwordHash: null, provisioned, historyDepth },
    Date.now(),
  )) as number;
  const { token } = h.tokens.issue({ tenantId: id, scopes: LOGIN_SCOPES, tokenVersion: 0 }, h.clock.nowSeconds());
  return { id, name, token, auth: { Authorization: `Bearer ${token}` } };
}

/** The ledger as stored, next to what it must equal: the sum and count of the tenant's stored values. */
export async function ledger(
  h: Harness,
  tenantId: number,
): Promise<{
  utilised: number;
  objectCount: number;
  storedBytes: number;
  storedObjects: number;
  provisioned: number;
  revision: number;
}> {
  const t = await h.db
    .knex('tenants')
    .first('utilised', 'object_count', 'provisioned', 'revision')
    .where('id', tenantId);
  const s = await h.db
    .knex('objects')
    .where('tenant_id', tenantId)
    .first(
      h.db.knex.raw(
        `COALESCE(SUM(${h.db.dialect.byteLength('value')} + COALESCE(${h.db.dialect.byteLength('metadata')}, 0)), 0) AS bytes`,
      ),
      h.db.knex.raw('COUNT(*) AS n'),
    );
  return {
    utilised: Number(t.utilised),
    objectCount: Number(t.object_count),
    provisioned: Number(t.provisioned),
    revision: Number(t.revision),
    storedBytes: Number(s?.bytes ?? 0),
    storedObjects: Number(s?.n ?? 0),
  };
}

/** The keys a tenant has stored, expired ones included, in byte order. */
export async function storedKeys(h: Harness, tenantId: number): Promise<string[]> {
  const rows = await h.db.knex('objects').select('k').where('tenant_id', tenantId);
  return rows.map((r: { k: unknown }) => h.db.dialect.keyText(r.k)).sort();
}

export { request };

/**
 * A key as one path segment. encodeURIComponent leaves `.` alone, and a client's URL parser folds the
 * segments `.` and `..` away (`/api/object/..` becomes `/api/`): encode dots as well so every key round-trips.
 */
export function encodeKey(key: string): string {
  return encodeURIComponent(key).replace(/[.!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

export function objectPath(key: string): string {
  return '/api/object/' + encodeKey(key);
}

/** What supertest accepts as the app to call: the in-process app, or the URL of one listening on a port. */
type Target = Express | string;

/**
 * The tenant API as tests call it: one method per route, each returning supertest's request (so a test can
 * `.expect(201)` or inspect the response).
 */
export function api(target: Target | Harness, tenant: TestTenant) {
  const app = typeof target === 'object' && 'app' in target ? target.app : target;
  return {
    put: (key: string, value: unknown, ttl?: number) =>
      request(app)
        .post('/api/object')
        .set(tenant.auth)
        .send(ttl === undefined ? { key, value } : { key, value, ttl }),
    get: (key: string) => request(app).get(objectPath(key)).set(tenant.auth),
    del: (key: string) => request(app).delete(objectPath(key)).set(tenant.auth),
    /** A batch of items, or any body at all (to test what is refused). */
    batch: (items: { key: string; value: unknown; ttl?: number }[] | unknown) =>
      request(app)
        .post('/api/batch/object')
        .set(tenant.auth)
        .send(items as object),
    /** POST /api/object with any body at all. */
    putBody: (body: unknown) =>
      request(app)
        .post('/api/object')
        .set(tenant.auth)
        .send(body as object),
    quota: () => request(app).get('/api/quota').set(tenant.auth),
  };
}

export type Api = ReturnType<typeof api>;

/** The stored size of a value: the UTF-8 byte length of its compact JSON. */
export function jsonSize(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/** An ASCII string value whose compact JSON is exactly `bytes` long (the two quotes included). */
export function valueOfSize(bytes: number): string {
  if (bytes < 2) throw new Error('a JSON string is at least 2 bytes');
  return 'x'.repeat(bytes - 2);
}

interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * Every error is JSON {"message","status_code","code"} with status_code equal to the HTTP status; a 412 adds
 * what failed (`current_version`, or a batch's `failed`), and nothing else adds anything.
 */
export function expectError(res: ErrorResponse, status: number, code?: string, message?: string | RegExp): void {
  expect({ status: res.status, body: res.body }).toMatchObject({ status });
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = res.body as Record<string, unknown>;
  const extra =
    status === 412
      ? [body.failed === undefined ? 'current_version' : 'failed']
      : status === 410
        ? ['oldest_revision']
        : [];
  expect(Object.keys(body).sort()).toEqual(['code', ...extra, 'message', 'status_code'].sort());
  expect(body.status_code).toBe(status);
  expect(typeof body.message).toBe('string');
  expect(typeof body.code).toBe('string');
  if (code !== undefined) expect(body.code).toBe(code);
  if (typeof message === 'string') expect(body.message).toContain(message);
  else if (message instanceof RegExp) expect(body.message).toMatch(message);
}

/** Asserts the ledger equals what is stored, and returns it. */
export async function expectLedgerExact(h: Harness, tenantId: number): Promise<Awaited<ReturnType<typeof ledger>>> {
  const l = await ledger(h, tenantId);
  expect({ utilised: l.utilised, objectCount: l.objectCount }).toEqual({
    utilised: l.storedBytes,
    objectCount: l.storedObjects,
  });
  return l;
}

/** The app on a real port, for tests that fire many requests at once (supertest would start a server per request). */
export async function listen(h: Harness): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(h.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Runs `write` with the app's clock 1000 s behind and hands it a ttl 500 s in the real past: the app accepts
 * the ttl, while the database (and the app, once the clock is back) sees the object as already expired.
 */
export async function writeExpiredInDb<T>(h: Harness, write: (ttl: number) => Promise<T>): Promise<T> {
  const saved = h.clock.offsetSeconds;
  h.clock.offsetSeconds = -1000;
  try {
    return await write(Math.floor(Date.now() / 1000) - 500);
  } finally {
    h.clock.offsetSeconds = saved;
  }
}

/** A small deterministic PRNG (mulberry32), so a failing storm can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
