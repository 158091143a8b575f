import { createLogger } from '../../../src/platform/logger';
import { PURGE_LEASE, PurgeRepository, PurgeService, leaseMs } from '../../../src/features/purge';
import {
  TestClock,
  api,
  describeTargets,
  expectLedgerExact,
  makeTenant,
  storedKeys,
  valueOfSize,
  type Harness,
} from '../../support/harness';

/**
 * The purge on a cluster: one purger at a time across every instance, by a lease row the database arbitrates
 * (one conditional UPDATE), which lapses when its holder dies. It runs on every database; the service chooses
 * it on Galera (test/cluster proves that part), here it is chosen by hand.
 */
describeTargets('purge lease', (h) => {
  const started: PurgeService[] = [];
  const instance = async (clock: TestClock): Promise<PurgeService> => {
    const service = new PurgeService(
      { ...h.config, purgeIntervalSeconds: 3600 },
      h.db,
      h.container.pipeline,
      new PurgeRepository(h.db),
      createLogger(h.config),
      clock,
    );
    expect(await service.start('lease')).toBe('lease');
    started.push(service);
    return service;
  };
  const lease = () => new PurgeRepository(h.db).lease(PURGE_LEASE);
  const expire = async (harness: Harness, count: number): Promise<number> => {
    const t = await makeTenant(harness);
    const soon = harness.clock.nowSeconds() + 5;
    for (let i = 0; i < count; i++) await api(harness, t).put(`e${i}`, valueOfSize(10), soon).expect(201);
    await api(harness, t).put('stays', valueOfSize(7)).expect(201);
    return t.id;
  };

  beforeEach(async () => {
    // Free, as a fresh database has it.
    await h.db.sql.execute("UPDATE purge_lease SET holder = '', expires_at = 0 WHERE name = ?", [PURGE_LEASE]);
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop()));
  });

  it('one instance holds the lease and purges; the other, while it is held, does not', async () => {
    const clockA = new TestClock();
    const clockB = new TestClock();
    const a = await instance(clockA);
    const b = await instance(clockB);
    const tenant = await expire(h, 6);
    clockA.offsetSeconds = clockB.offsetSeconds = 100;
    expect(await a.runOnce()).toBeGreaterThanOrEqual(6);
    expect(await lease()).toMatchObject({ holder: a.holder });
    expect(await storedKeys(h, tenant)).toEqual(['stays']);
    // More expire; the lease is A's, so B leaves them, and A takes them on its next run.
    const more = await expire(h, 3);
    expect(await b.runOnce()).toBe(0);
    expect(await storedKeys(h, more)).toHaveLength(4);
    expect(await a.runOnce()).toBeGreaterThanOrEqual(3);
    expect(await storedKeys(h, more)).toEqual(['stays']);
    for (const id of [tenant, more])
      expect(await expectLedgerExact(h, id)).toMatchObject({ utilised: 7, objectCount: 1 });
  });

  it('a holder that stops gives the lease up at once', async () => {
    const clock = new TestClock();
    const a = await instance(clock);
    const b = await instance(clock);
    expect(await a.runOnce()).toBe(0);
    expect(await lease()).toMatchObject({ holder: a.holder });
    await a.stop();
    expect(await lease()).toMatchObject({ holder: '', expiresAtMs: 0 });
    await b.runOnce();
    expect(await lease()).toMatchObject({ holder: b.holder });
  });

  it('a dead holder’s lease lapses: another instance takes it over, and the dead one no longer holds it', async () => {
    const clockA = new TestClock();
    const clockB = new TestClock();
    const a = await instance(clockA);
    const b = await instance(clockB);
    await a.runOnce();
    const held = await lease();
    expect(held?.holder).toBe(a.holder);
    expect(held?.expiresAtMs).toBeGreaterThanOrEqual(clockA.nowMs() + leaseMs(3600) - 1000);
    // A stalls (no renewal); just before the lease lapses B still may not take it, just after it may.
    clockB.frozenAtMs = (held?.expiresAtMs ?? 0) - 1;
    expect(await b.runOnce()).toBe(0);
    expect(await lease()).toMatchObject({ holder: a.holder });
    clockB.frozenAtMs = (held?.expiresAtMs ?? 0) + 1;
    const tenant = await expire(h, 4);
    clockB.offsetSeconds = 100;
    expect(await b.runOnce()).toBeGreaterThanOrEqual(4);
    expect(await lease()).toMatchObject({ holder: b.holder });
    // A comes back: the lease is B's now.
    expect(await a.runOnce()).toBe(0);
    expect(await storedKeys(h, tenant)).toEqual(['stays']);
    expect(await expectLedgerExact(h, tenant)).toMatchObject({ utilised: 7, objectCount: 1 });
  });

  it('instances racing for a free lease: exactly one gets it', async () => {
    const clock = new TestClock();
    const instances = await Promise.all(Array.from({ length: 6 }, () => instance(clock)));
    await Promise.all(instances.map((s) => s.runOnce()));
    const holder = (await lease())?.holder;
    expect(instances.filter((s) => s.holder === holder)).toHaveLength(1);
  });
});
