import {
  RevisionCompactedError,
  TenantKvAdmin,
  UnauthorizedError,
  TenantKv,
  type Watch,
  type WatchEvent,
} from '../../../packages/client/src';
import type { ServiceProcess } from '../../support/service-process';
import { targets } from '../../support/targets';
import { ADMIN_KEY, freePort, newTenant, serviceEnv, startService } from '../../support/tenantkv-service';

/**
 * The client's watch against the real forked service on each database: changes as they commit, a stream that
 * outlives a restart of the service (a new process on the same database and port: what was written while it was
 * away, and after, arrives once each, in order, through Last-Event-ID), and 410 as a typed error.
 */
type Seen = [WatchEvent['type'], string, number];

async function take(watch: Watch, count: number): Promise<Seen[]> {
  const events: Seen[] = [];
  while (events.length < count) {
    const next = await watch.next();
    if (next.done) throw new Error(`the watch ended after ${JSON.stringify(events)}`);
    events.push([next.value.type, next.value.key, next.value.version]);
  }
  return events;
}

/** Resolves once `check` holds, trying again every 100 ms up to `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the condition did not hold in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.each(targets())('@tenantkv/client watch against the forked service on %s', (target) => {
  let env: Record<string, string>;
  let service: ServiceProcess;
  let url: string;
  let admin: TenantKvAdmin;

  beforeAll(async () => {
    env = serviceEnv(target, { PORT: String(await freePort()) });
    ({ service, url } = await startService(env));
    admin = new TenantKvAdmin({ baseUrl: url, adminKey: ADMIN_KEY });
  });
  afterAll(() => service?.stop());

  it('gives the changes under its prefix as they commit, a batch together, and closes on return()', async () => {
    const { kv } = await newTenant(admin, url);
    const since = (await kv.quota()).revision;
    const watch = kv.watch('p/', { since, values: true });
    const first = watch.next();
    await kv.put('p/a', { n: 1 });
    await kv.put('other', 1);
    await kv.batchPut([
      { key: 'p/b', value: 2 },
      { key: 'p/c', value: 3 },
    ]);
    await kv.delete('p/a');
    const a = await first;
    expect(a.value).toMatchObject({ type: 'put', key: 'p/a', version: since + 1, value: { n: 1 } });
    expect(await take(watch, 3)).toEqual([
      ['put', 'p/b', since + 3],
      ['put', 'p/c', since + 3],
      ['delete', 'p/a', since + 4],
    ]);
    expect(watch.revision).toBe(since + 4);
    expect(await watch.return()).toEqual({ done: true, value: undefined });
    expect(await watch.next()).toEqual({ done: true, value: undefined });
  });

  it('survives restarts of the service: what was written meanwhile and after arrives once each, in order', async () => {
    const { kv } = await newTenant(admin, url);
    const since = (await kv.quota()).revision;
    const watch = kv.watch('', { since, reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } });
    const before = take(watch, 3);
    await kv.put('k1', 1);
    await kv.batchPut([
      { key: 'k2', value: 2 },
      { key: 'k3', value: 3 },
    ]);
    expect(await before).toEqual([
      ['put', 'k1', since + 1],
      ['put', 'k2', since + 2],
      ['put', 'k3', since + 2],
    ]);

    const restart = async () => {
      await service.stop();
      ({ service } = await startService(env));
      expect(service.lines.some((l) => String(l.url ?? '').endsWith(`:${env.PORT}`))).toBe(true);
    };

    // Read on while the service is away: its stream ends, reconnecting fails until the new process listens.
    const during = take(watch, 1);
    await restart();
    await kv.put('k4', 4);
    expect(await during).toEqual([['put', 'k4', since + 3]]);

    // Not read while the service is away: the resumed stream replays what was written meanwhile.
    await restart();
    await kv.batchPut([
      { key: 'k5', value: 5 },
      { key: 'k6', value: 6 },
    ]);
    await kv.delete('k1');
    expect(await take(watch, 3)).toEqual([
      ['put', 'k5', since + 4],
      ['put', 'k6', since + 4],
      ['delete', 'k1', since + 5],
    ]);
    const live = take(watch, 1);
    await kv.put('k7', 7);
    expect(await live).toEqual([['put', 'k7', since + 6]]);
    expect(watch.revision).toBe(since + 6);
    await watch.close();
  });

  it('throws UnauthorizedError for a token the service does not accept', async () => {
    const watch = new TenantKv({ baseUrl: url, token: 'not-a-token' }).watch('', { since: 0 });
    await expect(watch.next()).rejects.toBeInstanceOf(UnauthorizedError);
  });
});

describe.each(targets())('@tenantkv/client watch of a compacted feed on %s', (target) => {
  let service: ServiceProcess;
  let url: string;

  beforeAll(async () => {
    // Retention every second, keeping a single change record: a tenant's older changes go at once.
    ({ service, url } = await startService(serviceEnv(target, { CHANGE_MAX_ROWS: '1', PURGE_INTERVAL_SECONDS: '1' })));
  });
  afterAll(() => service?.stop());

  it('throws RevisionCompactedError carrying oldest_revision; watching again from the current revision works', async () => {
    const { kv } = await newTenant(new TenantKvAdmin({ baseUrl: url, adminKey: ADMIN_KEY }), url);
    const since = (await kv.quota()).revision;
    for (const key of ['a', 'b', 'c']) await kv.put(key, key);
    await eventually(() =>
      kv.changesPage({ since }).then(
        () => false,
        (err: unknown) => err instanceof RevisionCompactedError,
      ),
    );

    const gone = kv.watch('', { since });
    const error = (await gone.next().catch((err: unknown) => err)) as RevisionCompactedError;
    expect(error).toBeInstanceOf(RevisionCompactedError);
    expect([error.status, error.code]).toEqual([410, 'REVISION_COMPACTED']);
    expect(error.oldestRevision).toBeGreaterThan(since);
    expect(error.oldestRevision).toBeLessThanOrEqual(since + 3);

    const resumed = kv.watch('', { since: (await kv.quota()).revision });
    const next = take(resumed, 1);
    await kv.put('d', 'd');
    expect(await next).toEqual([['put', 'd', since + 4]]);
    await resumed.close();
  });
});
