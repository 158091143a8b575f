import { ObjectsRepository } from '../../../src/features/objects/objects.repository';
import { MAX_COALESCED_KEYS, PointReads } from '../../../src/features/objects/point-reads';
import { api, describeTargets, harness, listen, makeTenant, objectPath } from '../../support/harness';
import { send } from '../../support/service-process';

/**
 * Coalesced strong reads (issue 16): point reads that arrive while others are at the database go together as one
 * statement, and each request still gets its own answer, with every write acknowledged before it was sent.
 */
describeTargets('coalesced point reads', (h, target) => {
  it('sends the reads that wait as one statement, and gives each its own object', async () => {
    const [one, two] = [await makeTenant(h), await makeTenant(h)];
    await api(h, one)
      .batch([
        { key: 'a', value: 'one-a' },
        { key: 'b', value: 'one-b' },
      ])
      .expect(201);
    await api(h, two).put('a', 'two-a').expect(201);
    const reads = new PointReads(new ObjectsRepository(h.db.sql), 1);
    const asked: [number, string][] = [
      [one.id, 'a'],
      [one.id, 'b'],
      [two.id, 'a'],
      [one.id, 'absent'],
      [two.id, 'b'],
      [one.id, 'a'],
    ];
    const found = await Promise.all(asked.map(([tenantId, key]) => reads.get(tenantId, key)));
    expect(found.map((o) => o && [o.key, JSON.parse(o.value)])).toEqual([
      ['a', 'one-a'],
      ['b', 'one-b'],
      ['a', 'two-a'],
      undefined,
      undefined,
      ['a', 'one-a'],
    ]);
    // The first went alone; the five that came while it was out went together.
    expect(reads.stats).toEqual({ statements: 2, reads: 6 });

    const many = Array.from({ length: 2 * MAX_COALESCED_KEYS + 1 }, (_, i) => reads.get(one.id, i % 2 ? 'a' : `k${i}`));
    expect((await Promise.all(many)).filter((o) => o !== undefined)).toHaveLength(MAX_COALESCED_KEYS);
    // One alone, then the 2 × MAX that waited in statements of at most MAX.
    expect(reads.stats).toEqual({ statements: 2 + 3, reads: 6 + 2 * MAX_COALESCED_KEYS + 1 });
  });

  it('gives every read of a storm its own answer, holding every write acknowledged before it was sent', async () => {
    const server = await listen(h);
    try {
      const tenants = await Promise.all(Array.from({ length: 3 }, () => makeTenant(h)));
      const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];
      for (const t of tenants) {
        await api(h, t)
          .batch(keys.map((key) => ({ key, value: { tenant: t.id, key, n: -1 } })))
          .expect(201);
      }
      // Per tenant and key: the version each write was acknowledged with, its n, and when.
      const acks = new Map<string, { version: number; n: number; at: number }[]>();
      const reads: { slot: string; sentAt: number; version: number; n: number }[] = [];
      const slot = (tenantId: number, key: string): string => `${tenantId}/${key}`;
      const before = h.container.reads.stats.statements;
      const readsBefore = h.container.reads.stats.reads;
      const until = performance.now() + 2500;
      let n = 0;
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; performance.now() < until; i++) {
          const t = tenants[(w + i) % tenants.length];
          const key = keys[(w * 3 + i) % keys.length];
          const mine = n++;
          const res = await send(`${server.url}/api/object`, {
            method: 'POST',
            headers: t.auth,
            body: { key, value: { tenant: t.id, key, n: mine } },
          });
          expect(res.status).toBe(201);
          const version = Number(String(res.headers.etag).replace(/"/g, ''));
          const list = acks.get(slot(t.id, key)) ?? [];
          list.push({ version, n: mine, at: performance.now() });
          acks.set(slot(t.id, key), list);
        }
      };
      const reader = async (r: number): Promise<void> => {
        for (let i = 0; performance.now() < until; i++) {
          const t = tenants[(r + i) % tenants.length];
          const key = keys[(r + 2 * i) % keys.length];
          const sentAt = performance.now();
          const res = await send(`${server.url}${objectPath(key)}`, { headers: t.auth });
          expect(res.status).toBe(200);
          const body = res.body as { key: string; version: number; value: { tenant: number; key: string; n: number } };
          // Its own answer: the key asked, of the tenant asked.
          expect([body.key, body.value.tenant, body.value.key]).toEqual([key, t.id, key]);
          reads.push({ slot: slot(t.id, key), sentAt, version: body.version, n: body.value.n });
        }
      };
      await Promise.all([...[0, 1, 2].map(writer), ...Array.from({ length: 24 }, (_, r) => reader(r))]);

      for (const read of reads) {
        const list = acks.get(read.slot) ?? [];
        const owed = Math.max(0, ...list.filter((ack) => ack.at < read.sentAt).map((ack) => ack.version));
        expect(read.version).toBeGreaterThanOrEqual(owed);
        // The value is the one written with that version (the preload's for the first).
        if (read.n >= 0) expect(list.find((ack) => ack.version === read.version)?.n).toBe(read.n);
      }
      expect(reads.length).toBeGreaterThan(200);
      expect(n).toBeGreaterThan(30);
      const statements = h.container.reads.stats.statements - before;
      const served = h.container.reads.stats.reads - readsBefore;
      expect(served).toBe(reads.length);
      // MySQL answers on its own time, so reads pile up behind those out; SQLite answers within the call.
      if (target === 'mysql') expect(statements).toBeLessThan(served * 0.9);
      else expect(statements).toBeLessThanOrEqual(served);
    } finally {
      await server.close();
    }
  });

  it('READ_COALESCING=false: each read its own statement', async () => {
    const off = await harness(target, { env: { READ_COALESCING: 'false' } });
    try {
      const t = await makeTenant(off);
      await api(off, t).put('a', 1).expect(201);
      const server = await listen(off);
      try {
        const answers = await Promise.all(
          Array.from({ length: 40 }, () => send(`${server.url}${objectPath('a')}`, { headers: t.auth })),
        );
        expect(answers.every((a) => a.status === 200)).toBe(true);
      } finally {
        await server.close();
      }
      expect(off.container.reads.stats.statements).toBe(off.container.reads.stats.reads);
      expect(off.container.reads.stats.reads).toBe(40);
    } finally {
      await off.close();
    }
  });
});
