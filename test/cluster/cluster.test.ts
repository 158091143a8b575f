import type { ServiceProcess } from '../support/service-process';
import {
  Client,
  DATABASE,
  NODES,
  cluster,
  createTenant,
  instanceOn,
  ledgerOn,
  nodeConnection,
  onNode,
  prng,
  sleep,
  type Node,
  type Reply,
} from './support';

/**
 * Two tenantkv instances on two nodes of a 3-node Galera cluster (test/cluster/cluster.sh), started at the same
 * moment on a fresh database: instance A on node 1, B on node 2. Node 3 takes no client; every check reads every
 * node. docs/SCALE-OUT.md says what this proves.
 */
let a: ServiceProcess;
let b: ServiceProcess;
let urlA: string;
let urlB: string;

beforeAll(async () => {
  const conn = await nodeConnection(1, null);
  await conn.query(`DROP DATABASE IF EXISTS ${DATABASE}`);
  await conn.query(`CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await conn.end();
  // Both at once, both migrating on start.
  a = instanceOn(1);
  b = instanceOn(2);
  [urlA, urlB] = await Promise.all([a.ready(), b.ready()]);
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

/** Every answer's status, counted. */
function tally(replies: Reply[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of replies) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

/** The ledger of each tenant on every node: exact, within quota, and the same on all three. */
async function expectLedgersExact(tenantIds: number[]): Promise<void> {
  for (const id of tenantIds) {
    const ledgers = await Promise.all(NODES.map((node) => ledgerOn(node, id)));
    for (const l of ledgers) {
      expect({ node: l.node, utilised: l.utilised, objects: l.objectCount }).toEqual({
        node: l.node,
        utilised: l.storedSize,
        objects: l.storedObjects,
      });
      expect({ node: l.node, size: l.storedSize }).toEqual({ node: l.node, size: l.storedBytes });
      expect(l.utilised).toBeLessThanOrEqual(l.provisioned);
    }
    expect(new Set(ledgers.map((l) => `${l.utilised}/${l.objectCount}`)).size).toBe(1);
  }
}

describe('start-up on a fresh database, both instances at once', () => {
  it('both serve; the schema is migrated once and the lock table keeps exactly one row, on every node', async () => {
    expect(urlA).toMatch(/^http:/);
    expect(urlB).toMatch(/^http:/);
    const counts = await Promise.all(
      NODES.map((node) =>
        onNode(node, async (conn) => {
          const [locks] = await conn.query('SELECT is_locked FROM knex_migrations_lock');
          const [migrations] = await conn.query('SELECT name FROM knex_migrations');
          return { locks, migrations: (migrations as unknown[]).length };
        }),
      ),
    );
    for (const c of counts) expect(c.locks).toEqual([{ is_locked: 0 }]);
    expect(new Set(counts.map((c) => c.migrations)).size).toBe(1);
    expect(counts[0].migrations).toBeGreaterThanOrEqual(7);
    for (const s of [a, b]) {
      expect(s.lines.some((l) => l.name === 'MigrationLocked' || /MigrationLocked/.test(String(l.msg)))).toBe(false);
    }
  });

  it('each knows it is on Galera: the purge takes turns by the lease, and no node has the EVENT', async () => {
    for (const s of [a, b]) {
      const listening = await s.waitForLine((l) => String(l.msg).startsWith('tenantkv listening on'));
      expect(listening).toMatchObject({ purge: 'lease' });
      await s.waitForLine((l) => String(l.msg).startsWith('a Galera cluster'));
      expect(s.lines.filter((l) => /may not create it|SLAVESIDE/.test(String(l.msg)))).toEqual([]);
    }
    for (const node of NODES) {
      const [events] = await onNode(node, (conn) =>
        conn.query(`SELECT STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()`),
      );
      expect({ node, events }).toEqual({ node, events: [] });
    }
  });
});

describe('read-your-writes across instances', () => {
  it('a write acknowledged by one instance is what the other reads next: 300 rounds, none stale', async () => {
    const tenant = await createTenant(urlA, 'ryw', 50_000_000);
    const clients = { a: new Client(urlA, tenant.token), b: new Client(urlB, tenant.token) };
    const stale: string[] = [];
    try {
      for (let i = 0; i < 300; i++) {
        const [writer, reader] = i % 2 === 0 ? [clients.a, clients.b] : [clients.b, clients.a];
        const key = `k${i}`;
        switch (i % 3) {
          case 0: {
            expect((await writer.put(key, { v: 1, i })).status).toBe(201);
            const read = await reader.get(key);
            if (read.status !== 200) stale.push(`${key}: new key read as ${read.status}`);
            break;
          }
          case 1: {
            expect((await reader.put(key, { v: 1, i })).status).toBe(201);
            expect((await writer.put(key, { v: 2, i })).status).toBe(201);
            const read = await reader.get(key);
            const value = (read.body as { value?: { v?: number } }).value;
            if (value?.v !== 2) stale.push(`${key}: overwrite read as ${JSON.stringify(read.body)}`);
            break;
          }
          default: {
            expect((await reader.put(key, { v: 1, i })).status).toBe(201);
            expect((await writer.del(key)).status).toBe(204);
            const read = await reader.get(key);
            if (read.status !== 404) stale.push(`${key}: deleted key read as ${read.status}`);
          }
        }
      }
    } finally {
      clients.a.close();
      clients.b.close();
    }
    expect(stale).toEqual([]);
    await expectLedgersExact([tenant.id]);
  });
});

/**
 * Clients on both instances writing the same few hot tenants: creates, overwrites, deletes and batches over a
 * small key space, with quotas small enough that writes race for the last bytes.
 */
async function storm(options: {
  tenants: { token: string }[];
  urls: string[];
  clientsPerUrl: number;
  durationMs: number;
  seed: number;
}): Promise<Reply[]> {
  const replies: Reply[] = [];
  const until = Date.now() + options.durationMs;
  const loops: Promise<void>[] = [];
  let c = 0;
  for (const url of options.urls) {
    for (let i = 0; i < options.clientsPerUrl; i++) {
      const random = prng(options.seed + c++);
      const tenant = options.tenants[c % options.tenants.length];
      loops.push(
        (async () => {
          const client = new Client(url, tenant.token);
          try {
            while (Date.now() < until) {
              const pick = random();
              const key = `h${Math.floor(random() * 40)}`;
              const value = 'v'.repeat(20 + Math.floor(random() * 600));
              if (pick < 0.45) replies.push(await client.put(key, value));
              else if (pick < 0.65) replies.push(await client.del(key));
              else if (pick < 0.85) {
                const keys = new Set(
                  Array.from({ length: 2 + Math.floor(random() * 6) }, () => `h${Math.floor(random() * 40)}`),
                );
                replies.push(
                  await client.batch(
                    [...keys].map((k) => ({ key: k, value: 'b'.repeat(10 + Math.floor(random() * 300)) })),
                  ),
                );
              } else replies.push(await client.get(key));
            }
          } finally {
            client.close();
          }
        })(),
      );
    }
  }
  await Promise.all(loops);
  return replies;
}

describe('a storm on shared hot tenants, from both instances', () => {
  it('ends with every ledger exact on every node, never above quota, and no 5xx', async () => {
    const tenants = [await createTenant(urlA, 'hot-1', 6_000), await createTenant(urlB, 'hot-2', 9_000)];
    const replies = await storm({ tenants, urls: [urlA, urlB], clientsPerUrl: 8, durationMs: 15_000, seed: 12 });
    const counts = tally(replies);
    process.stdout.write(`storm: ${replies.length} requests, statuses ${JSON.stringify(counts)}\n`);
    const busy = [a, b].flatMap((s) => s.lines.filter((l) => l.code === 'BUSY'));
    expect(busy.map((l) => `${l.method} ${l.url}: ${l.attempts} attempts`)).toEqual([]);
    expect(replies.filter((r) => r.status >= 500).map((r) => `${r.status} ${JSON.stringify(r.body)}`)).toEqual([]);
    // The quota was contended: some writes were refused for it, and many went through.
    expect(counts[403] ?? 0).toBeGreaterThan(0);
    expect(counts[201] ?? 0).toBeGreaterThan(500);
    await expectLedgersExact(tenants.map((t) => t.id));
  });
});

describe('the purge on the cluster', () => {
  it('expired objects are purged and refunded exactly once, by one lease holder at a time', async () => {
    const tenant = await createTenant(urlA, 'expiring', 1_000_000);
    const clients = [new Client(urlA, tenant.token), new Client(urlB, tenant.token)];
    const ttl = Math.floor(Date.now() / 1000) + 3;
    const purgedBefore = (s: ServiceProcess) =>
      s.lines.filter((l) => l.msg === 'purged expired objects').reduce((n, l) => n + Number(l.removed), 0);
    const before = purgedBefore(a) + purgedBefore(b);
    try {
      for (let i = 0; i < 40; i++) expect((await clients[i % 2].put(`e${i}`, 'x'.repeat(100), ttl)).status).toBe(201);
      for (let i = 0; i < 5; i++) expect((await clients[i % 2].put(`stay${i}`, 'y'.repeat(50))).status).toBe(201);
      expect((await ledgerOn(3, tenant.id)).storedObjects).toBe(45);
      // Waits for the purge (every second), for at most 30 s.
      const deadline = Date.now() + 30_000;
      while ((await ledgerOn(3, tenant.id)).storedObjects > 5) {
        if (Date.now() > deadline) throw new Error('expired objects were not purged within 30 s');
        await sleep(250);
      }
    } finally {
      for (const c of clients) c.close();
    }
    await expectLedgersExact([tenant.id]);
    expect(await ledgerOn(1, tenant.id)).toMatchObject({ utilised: 5 * 52, objectCount: 5 });
    // Exactly once: the instances' purges removed exactly those 40 (no EVENT purged beside them).
    await sleep(1500);
    expect(purgedBefore(a) + purgedBefore(b) - before).toBe(40);
    // One holder: only one instance ever held the lease, and every purge was its own.
    const holders = [a, b].filter((s) => s.lines.some((l) => l.msg === 'this instance holds the purge lease'));
    expect(holders).toHaveLength(1);
    const other = holders[0] === a ? b : a;
    expect(purgedBefore(other)).toBe(0);
    const [[lease]] = (await onNode(3, (conn) =>
      conn.query("SELECT holder, expires_at FROM purge_lease WHERE name = 'purge'"),
    )) as unknown as [{ holder: string; expires_at: number }[]];
    expect(lease.holder).toMatch(
      new RegExp(`:${holders[0].lines.find((l) => l.msg === 'this instance holds the purge lease')?.pid}:`),
    );
  });
});

describe('a node killed and restarted mid-storm', () => {
  it('loses no acknowledged write, and the instance on it serves again once it is back', async () => {
    const hot = await createTenant(urlA, 'crash-hot', 8_000);
    const log = await createTenant(urlB, 'crash-log', 50_000_000);
    const acknowledged = new Map<string, string>();
    const replies: { at: number; url: string; reply: Reply }[] = [];
    let stop = false;
    let seq = 0;
    const loops = [urlA, urlB].flatMap((url) =>
      Array.from({ length: 5 }, (_, i) =>
        (async () => {
          const random = prng(100 + i + (url === urlA ? 0 : 50));
          const writer = new Client(url, log.token);
          const hotClient = new Client(url, hot.token);
          try {
            while (!stop) {
              // Unique keys, never overwritten: each acknowledged one must be there afterwards, on every node.
              const key = `c${seq++}`;
              const value = `${url}-${key}-${'z'.repeat(Math.floor(random() * 200))}`;
              const created = await writer.put(key, value).catch(() => undefined);
              if (created) {
                replies.push({ at: Date.now(), url, reply: created });
                if (created.status === 201) acknowledged.set(key, value);
              }
              const contended = await hotClient
                .put(`h${Math.floor(random() * 20)}`, 'w'.repeat(50 + Math.floor(random() * 400)))
                .catch(() => undefined);
              if (contended) replies.push({ at: Date.now(), url, reply: contended });
              // While its node is down an instance answers at once; do not spin on it.
              if (created?.status === 503) await sleep(50);
            }
          } finally {
            writer.close();
            hotClient.close();
          }
        })(),
      ),
    );
    try {
      await sleep(2000);
      await cluster('kill', '2');
      const killedAt = Date.now();
      await sleep(3000);
      await cluster('restart', '2');
      const backAt = Date.now();
      // B serves again: a write through it is acknowledged after the node is back.
      const deadline = Date.now() + 30_000;
      while (!replies.some((r) => r.url === urlB && r.at > backAt && r.reply.status === 201)) {
        if (Date.now() > deadline) throw new Error('instance B did not serve again within 30 s of its node rejoining');
        await sleep(100);
      }
      await sleep(1000);
      stop = true;
      await Promise.all(loops);
      const statuses = tally(replies.map((r) => r.reply));
      process.stdout.write(`node kill: ${replies.length} requests, statuses ${JSON.stringify(statuses)}\n`);
      // While node 2 was down, B said 503 (retry later), never 500; A went on.
      expect(replies.filter((r) => r.reply.status === 500)).toEqual([]);
      expect(replies.some((r) => r.url === urlA && r.at > killedAt && r.at < backAt && r.reply.status === 201)).toBe(
        true,
      );
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    // Every acknowledged write is on every node, with its value.
    for (const node of NODES) {
      const stored = await onNode(node, async (conn) => {
        const [rows] = await conn.query('SELECT k, value FROM objects WHERE tenant_id = ?', [log.id]);
        return new Map((rows as { k: Buffer; value: string }[]).map((r) => [r.k.toString('utf8'), r.value]));
      });
      const missing = [...acknowledged].filter(([k, v]) => stored.get(k) !== JSON.stringify(v));
      expect({ node, missing: missing.slice(0, 5), count: missing.length }).toEqual({ node, missing: [], count: 0 });
    }
    expect(acknowledged.size).toBeGreaterThan(100);
    await expectLedgersExact([hot.id, log.id]);
  });
});

describe('a max_allowed_packet too small for a full batch', () => {
  it('is named in a warning at start, and a batch past it is refused with 413 naming the limit', async () => {
    const node: Node = 3;
    const admin = await nodeConnection(node, null);
    const [[was]] = (await admin.query('SELECT @@GLOBAL.max_allowed_packet AS packet')) as unknown as [
      { packet: number }[],
    ];
    await admin.query('SET GLOBAL max_allowed_packet = 1048576');
    const c = instanceOn(node, { MIGRATE_ON_START: 'false' });
    try {
      const url = await c.ready();
      const warning = await c.waitForLine((l) => /max_allowed_packet/.test(String(l.msg)) && l.level === 40);
      expect(warning).toMatchObject({ maxAllowedPacket: 1048576 });
      expect(String(warning.msg)).toMatch(/set max_allowed_packet = \d+M/);
      const tenant = await createTenant(url, 'packet', 50_000_000);
      const client = new Client(url, tenant.token);
      try {
        const big = Array.from({ length: 3 }, (_, i) => ({ key: `big${i}`, value: 'p'.repeat(500_000) }));
        const refused = await client.batch(big);
        expect(refused.status).toBe(413);
        expect(refused.body).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status_code: 413 });
        expect((refused.body as { message: string }).message).toMatch(/1048576 bytes.*max_allowed_packet/);
        expect((await client.batch(big.slice(0, 1))).status).toBe(201);
      } finally {
        client.close();
      }
      await expectLedgersExact([tenant.id]);
    } finally {
      await c.stop();
      await admin.query(`SET GLOBAL max_allowed_packet = ${Number(was.packet)}`);
      await admin.end();
    }
  });
});
