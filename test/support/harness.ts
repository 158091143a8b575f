import crypto from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { loadConfig, type Config } from '../../src/config';
import { createDb, closeDb, type Db } from '../../src/db/knex';
import { buildApp } from '../../src/app';
import { createLogger } from '../../src/logger';
import { TenantRepository } from '../../src/db/repositories/tenant-repository';
import { TokenService, LOGIN_SCOPES } from '../../src/service/token-service';
import type { Clock } from '../../src/service/clock';
import { TEST_MYSQL_URL, type TargetName } from './targets';

export const JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';

/** A clock the test moves by hand; starts at the real time. */
export class TestClock implements Clock {
  offsetSeconds = 0;
  nowMs(): number {
    return Date.now() + this.offsetSeconds * 1000;
  }
  nowSeconds(): number {
    return Math.floor(this.nowMs() / 1000);
  }
}

export interface Harness {
  target: TargetName;
  config: Config;
  db: Db;
  app: Express;
  clock: TestClock;
  tokens: TokenService;
  close(): Promise<void>;
}

export function testConfig(target: TargetName, env: Record<string, string> = {}): Config {
  return loadConfig(
    { NODE_ENV: 'test', DATA_DIR: process.env.TENANTKV_TEST_DATA_DIR as string, ...env },
    { databaseUrl: target === 'mysql' ? TEST_MYSQL_URL : undefined, dbPoolMax: 20 },
  );
}

/** An app on the shared, already migrated test database of `target`. Each test makes its own tenants. */
export function harness(target: TargetName, env: Record<string, string> = {}): Harness {
  const config = testConfig(target, env);
  const db = createDb(config);
  const clock = new TestClock();
  const app = buildApp({ config, db, logger: createLogger(config), jwtSecret: JWT_SECRET, clock });
  return {
    target,
    config,
    db,
    app,
    clock,
    tokens: new TokenService(JWT_SECRET, config.jwtLifetimeSeconds),
    close: () => closeDb(db),
  };
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

/** A tenant made straight in the database with a token signed like a login token: fast, for bulk tests. */
export async function makeTenant(h: Harness, provisioned = 1024 * 1024): Promise<TestTenant> {
  const name = uniqueName();
  const id = (await new TenantRepository(h.db).create(
    { userName: name, passwordHash: null, provisioned },
    Date.now(),
  )) as number;
  const { token } = h.tokens.issue({ tenantId: id, scopes: LOGIN_SCOPES, tokenVersion: 0 }, h.clock.nowSeconds());
  return { id, name, token, auth: { Authorization: `Bearer ${token}` } };
}

/** The ledger as stored, next to what it must equal: the sum and count of the tenant's stored values. */
export async function ledger(
  h: Harness,
  tenantId: number,
): Promise<{ utilised: number; objectCount: number; storedBytes: number; storedObjects: number; provisioned: number }> {
  const t = await h.db.knex('tenants').first('utilised', 'object_count', 'provisioned').where('id', tenantId);
  const s = await h.db
    .knex('objects')
    .where('tenant_id', tenantId)
    .first(
      h.db.knex.raw(`COALESCE(SUM(${h.db.dialect.byteLength('value')}), 0) AS bytes`),
      h.db.knex.raw('COUNT(*) AS n'),
    );
  return {
    utilised: Number(t.utilised),
    objectCount: Number(t.object_count),
    provisioned: Number(t.provisioned),
    storedBytes: Number(s?.bytes ?? 0),
    storedObjects: Number(s?.n ?? 0),
  };
}

export { request };
