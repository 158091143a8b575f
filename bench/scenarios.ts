import { jsonStringOfBytes, log, randomHex, type Settings } from './common';
import { request, requestExpecting } from './http';
import type autocannon from 'autocannon';
import { runLoad, runSerial, type LoadOptions, type Measurement, type Subject } from './load';
import {
  batchItems,
  batchGetBody,
  bearer,
  bigKey,
  listPrefix,
  getRequest,
  pick,
  postObjectRequest,
  preloadKey,
  randomHit,
  randomMiss,
  servicePath,
  eventualPath,
  type Fixture,
  type Tenant,
} from './workload';

/** A started service: where to send requests, and its processes (primary and workers) for CPU accounting. */
export interface ServiceTarget {
  url: string;
  pids: Subject;
}

/** The service scenarios: each runs against a started service and returns its measurement. */
export interface ServiceScenario {
  id: string;
  label: string;
  run(target: ServiceTarget): Promise<Measurement>;
}

async function mapLimit<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Through the public API only: registers and logs in `settings.tenants` tenants (each with the self-registration
 * ceiling as capacity), then preloads keysPerTenant keys of valueBytes into each with one batch per tenant.
 */
export async function provision(url: string, settings: Settings): Promise<Fixture> {
  const run = randomHex(3);
  const password = randomHex(12);
  const started = Date.now();
  // Registration and login each hash with scrypt (~100 ms of CPU): a few at a time keeps both cores busy.
  const tenants = await mapLimit(
    Array.from({ length: settings.tenants + 1 }, (_, i) => `bench-${run}-${i}`),
    6,
    async (name): Promise<Tenant> => {
      const registered = JSON.parse(
        await requestExpecting(201, 'POST', `${url}/api/auth/register`, {
          user_name: name,
          password,
          provisioned_capacity: settings.capacityBytes,
        }),
      ) as { id: number };
      const login = JSON.parse(
        await requestExpecting(200, 'POST', `${url}/api/auth/login`, { user_name: name, password }),
      ) as { token: string };
      return { id: registered.id, name, token: login.token };
    },
  );
  log(`registered and logged in ${tenants.length} tenants in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const bigTenant = tenants.pop() as Tenant;

  const smallValue = jsonStringOfBytes(settings.valueBytes);
  const items = Array.from({ length: settings.keysPerTenant }, (_, i) => ({ key: preloadKey(i), value: smallValue }));
  await mapLimit(tenants, 4, (tenant) =>
    requestExpecting(201, 'POST', `${url}/api/batch/object`, items, bearer(tenant)),
  );
  const quota = JSON.parse(await requestExpecting(200, 'GET', `${url}/api/quota`, undefined, bearer(tenants[0]))) as {
    utilised: number;
  };
  const expected = settings.keysPerTenant * settings.valueBytes;
  if (quota.utilised !== expected) throw new Error(`preload: tenant 0 uses ${quota.utilised} bytes, not ${expected}`);
  log(`preloaded ${tenants.length * settings.keysPerTenant} keys of ${settings.valueBytes} bytes`);
  const bigStarted = Date.now();
  const perBatch = 10_000;
  await mapLimit(
    Array.from({ length: Math.ceil(settings.bigTenantKeys / perBatch) }, (_, b) => b),
    2,
    (b) => {
      const count = Math.min(perBatch, settings.bigTenantKeys - b * perBatch);
      const batch = Array.from({ length: count }, (_, i) => ({
        key: bigKey(b * perBatch + i, settings.bigTenantKeys),
        value: 1,
      }));
      return requestExpecting(201, 'POST', `${url}/api/batch/object`, batch, bearer(bigTenant));
    },
  );
  log(`preloaded ${settings.bigTenantKeys} keys into one tenant in ${((Date.now() - bigStarted) / 1000).toFixed(1)} s`);
  return {
    tenants,
    keysPerTenant: settings.keysPerTenant,
    smallValue,
    hotTenant: tenants[0],
    batchTenant: tenants[1],
    bigTenant,
    bigTenantKeys: settings.bigTenantKeys,
  };
}

/**
 * The scenarios, in the order they run. `tag` makes the keys this run creates distinct from every other
 * run's (the two worker counts share one database).
 */
export function serviceScenarios(fixture: Fixture, settings: Settings, tag: string): ServiceScenario[] {
  const loadScenario = (
    id: string,
    label: string,
    connections: number,
    setupRequest: LoadOptions['setupRequest'],
    expect: number[],
    warmupS = settings.warmupS,
  ): ServiceScenario => ({
    id,
    label,
    run: (target) =>
      runLoad({
        id,
        label,
        url: target.url,
        subject: target.pids,
        connections,
        durationS: settings.durationS,
        warmupS,
        setupRequest,
        expect,
      }),
  });
  // Long enough for each worker's cache to have read most of the preloaded keys once: a warm cache is measured.
  const cacheWarmupS = settings.warmupS * 4;
  let created = 0;
  const create = (): autocannon.Request => {
    const n = created++;
    return postObjectRequest(fixture.tenants[n % fixture.tenants.length], `c${tag}-${n}`, fixture.smallValue);
  };
  const hit = getRequest(fixture, servicePath, randomHit);
  const eventualHit = getRequest(fixture, eventualPath, randomHit);
  const overwrite = (): autocannon.Request => {
    const { tenant, key } = randomHit(fixture, fixture.hotTenant);
    return postObjectRequest(tenant, key, fixture.smallValue);
  };
  const list = (): autocannon.Request => ({
    method: 'GET',
    path: `/api/objects?prefix=${encodeURIComponent(listPrefix(fixture.bigTenantKeys))}&limit=1000`,
    headers: bearer(fixture.bigTenant),
  });
  const batchGet = (): autocannon.Request => {
    const tenant = pick(fixture.tenants);
    return {
      method: 'POST',
      path: '/api/batch/get',
      headers: { ...bearer(tenant), 'content-type': 'application/json' },
      body: JSON.stringify(batchGetBody(fixture, 100)),
    };
  };
  const overwriteIfExists = (): autocannon.Request => {
    const { tenant, key } = randomHit(fixture);
    const req = postObjectRequest(tenant, key, fixture.smallValue);
    return { ...req, headers: { ...req.headers, 'if-match': '*' } };
  };
  // The other tenants' traffic: half reads, half same-size overwrites, none on the hot tenant.
  const others = fixture.tenants.filter((t) => t !== fixture.hotTenant);
  const otherHit = (): { tenant: Tenant; key: string } => randomHit(fixture, pick(others));
  const otherGet = getRequest(fixture, servicePath, otherHit);
  const neighbour = (req: autocannon.Request): autocannon.Request => {
    if (Math.random() < 0.5) return otherGet(req);
    const { tenant, key } = otherHit();
    return postObjectRequest(tenant, key, fixture.smallValue);
  };
  const readPercent = Math.round(settings.mixReadShare * 100);
  const c = settings.connections;
  const neighbours = loadScenario(
    'neighbours',
    `${c} connections, 50 % GET / 50 % POST overwrite, ${others.length} tenants`,
    c,
    neighbour,
    [200, 201],
  );
  const hotOverwrite = loadScenario('post-overwrite', 'POST overwrite, 1 tenant', c, overwrite, [201]);
  const cacheTenant = fixture.tenants[fixture.tenants.length - 1];
  const cacheKey = (i: number): string => `cache/${i}`;
  const fullLabel =
    `GET consistency=eventual, random keys of ${settings.cacheSetKeys} objects of ${settings.batchItemBytes / 1024} KB ` +
    `(${Math.round((settings.cacheSetKeys * settings.batchItemBytes) / 2 ** 20)} MB)`;
  return [
    loadScenario('get-hit-1', 'GET hit, 1 connection', 1, hit, [200]),
    loadScenario('get-hit', 'GET hit', c, hit, [200]),
    loadScenario('get-eventual', 'GET hit, consistency=eventual', c, eventualHit, [200], cacheWarmupS),
    loadScenario('get-miss', 'GET miss', c, getRequest(fixture, servicePath, randomMiss), [404]),
    loadScenario('post-create', 'POST create, 100 tenants', c, create, [201]),
    hotOverwrite,
    neighbours,
    {
      id: 'neighbours-hot',
      label: `the same, beside ${c} connections overwriting one hot tenant`,
      // The row is the other tenants' load; the hot tenant's writes run alongside for the same time, uncounted.
      run: async (target) => {
        const [measured, hot] = await Promise.all([neighbours.run(target), hotOverwrite.run(target)]);
        log(`hot tenant beside them: ${hot.rps.toFixed(0)} writes/s, ${hot.unexpected} unexpected`);
        // Both loads ran on the same processes: CPU per request would charge the hot tenant's to this row.
        return {
          ...measured,
          id: 'neighbours-hot',
          label: `the same, beside ${c} connections overwriting one hot tenant (${hot.rps.toFixed(0)} writes/s)`,
          cpu: undefined,
        };
      },
    },
    loadScenario(
      'mix',
      `mix ${readPercent} % GET hit / ${100 - readPercent} % POST create`,
      c,
      (req) => (Math.random() < settings.mixReadShare ? hit(req) : create()),
      [200, 201],
    ),
    {
      id: 'batch-4mb',
      label: `4 MB batch (${settings.batchItems} × ${settings.batchItemBytes / 1024} KB)`,
      run: ({ url, pids }) =>
        runSerial({
          subject: pids,
          id: 'batch-4mb',
          label: `4 MB batch (${settings.batchItems} × ${settings.batchItemBytes / 1024} KB)`,
          runs: settings.batchRuns,
          expect: [201],
          // Distinct keys in every run: each batch creates 256 objects (4 MiB) and charges them to the ledger.
          prepare: async (run) => {
            const items = batchItems(`b${tag}-${run}-`, settings.batchItems, settings.batchItemBytes);
            const body = Buffer.from(JSON.stringify(items));
            const headers = bearer(fixture.batchTenant);
            return async () => (await request('POST', `${url}/api/batch/object`, body, headers)).status;
          },
        }),
    },
    loadScenario('list-1000', `list 1000 keys of a tenant of ${fixture.bigTenantKeys}`, c, list, [200]),
    loadScenario('batch-get-100', 'batch get of 100 keys', c, batchGet, [200]),
    loadScenario('post-if-match', 'POST overwrite with If-Match: *, 100 tenants', c, overwriteIfExists, [201]),
    loadScenario(
      'get-hit-200',
      `GET hit, ${settings.highConnections} connections`,
      settings.highConnections,
      hit,
      [200],
    ),
    loadScenario(
      'get-eventual-200',
      `GET hit, consistency=eventual, ${settings.highConnections} connections`,
      settings.highConnections,
      eventualHit,
      [200],
      cacheWarmupS,
    ),
    {
      id: 'get-eventual-full',
      label: fullLabel,
      run: async (target) => {
        // The same keys in every run (overwritten), a batch at the batch limit at a time; untimed.
        const value = jsonStringOfBytes(settings.batchItemBytes);
        for (let from = 0; from < settings.cacheSetKeys; from += settings.batchItems) {
          const batch = Array.from({ length: Math.min(settings.batchItems, settings.cacheSetKeys - from) }, (_, i) => ({
            key: cacheKey(from + i),
            value,
          }));
          await requestExpecting(201, 'POST', `${target.url}/api/batch/object`, batch, bearer(cacheTenant));
        }
        return runLoad({
          id: 'get-eventual-full',
          label: fullLabel,
          url: target.url,
          subject: target.pids,
          connections: c,
          durationS: settings.durationS,
          warmupS: settings.warmupS,
          setupRequest: () => ({
            method: 'GET',
            path: eventualPath(cacheTenant, cacheKey(Math.floor(Math.random() * settings.cacheSetKeys))),
            headers: bearer(cacheTenant),
          }),
          expect: [200],
        });
      },
    },
  ];
}

/** A request the service must answer as the bench expects, run before the load so a broken setup fails fast. */
export async function smokeCheck(url: string, fixture: Fixture): Promise<void> {
  const { tenant, key } = randomHit(fixture, pick(fixture.tenants));
  await requestExpecting(200, 'GET', `${url}${servicePath(tenant, key)}`, undefined, bearer(tenant));
}
