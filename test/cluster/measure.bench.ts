import type { ServiceProcess } from '../support/service-process';
import { Client, DATABASE, NODES, createTenant, instanceOn, nodeConnection, prng, type Node } from './support';

/**
 * The figures of docs/SCALE-OUT.md: write throughput of one instance on one node against two instances on two
 * nodes, and the conflicts the service retried per 1,000 writes, on one hot tenant and on tenants spread over
 * the clients. Not a test (it asserts nothing): `make bench-cluster`, on the cluster test/cluster/run.sh starts.
 *
 * Each run: CLIENTS keep-alive clients in closed loop for SECONDS, split evenly over the instances, writing
 * 60 % puts, 20 % deletes, 20 % batches of 2–7 items, values of 20–620 bytes over 40 keys per tenant, quotas too
 * large to refuse anything. A conflict is a transaction the cluster rolled back for the service to retry:
 * certification failures and brute-force aborts (wsrep_local_cert_failures + wsrep_local_bf_aborts) and local
 * deadlocks (Innodb_deadlocks), summed over the three nodes.
 */
const CLIENTS = Number(process.env.CLIENTS ?? 16);
const SECONDS = Number(process.env.SECONDS_PER_RUN ?? 20);

async function conflicts(): Promise<number> {
  let total = 0;
  for (const node of NODES) {
    const conn = await nodeConnection(node, null);
    const [rows] = await conn.query(
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_cert_failures', 'wsrep_local_bf_aborts', 'Innodb_deadlocks')",
    );
    await conn.end();
    for (const r of rows as { Value: string }[]) total += Number(r.Value);
  }
  return total;
}

interface Run {
  name: string;
  requests: number;
  writesPerSecond: number;
  conflictsPer1000: number;
  statuses: Record<number, number>;
}

async function run(name: string, nodes: Node[], hot: boolean): Promise<Run> {
  const instances: ServiceProcess[] = nodes.map((node) => instanceOn(node, { MIGRATE_ON_START: 'false' }));
  try {
    const urls = await Promise.all(instances.map((s) => s.ready()));
    const tenants = await Promise.all(
      Array.from({ length: hot ? 1 : CLIENTS }, (_, i) =>
        createTenant(urls[i % urls.length], `${name}-${i}-${Date.now()}`, 1_000_000_000),
      ),
    );
    const before = await conflicts();
    const statuses: Record<number, number> = {};
    const until = Date.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        const random = prng(1000 + c);
        const client = new Client(urls[c % urls.length], tenants[c % tenants.length].token);
        try {
          while (Date.now() < until) {
            const pick = random();
            const key = `k${Math.floor(random() * 40)}`;
            const reply =
              pick < 0.6
                ? await client.put(key, 'v'.repeat(20 + Math.floor(random() * 600)))
                : pick < 0.8
                  ? await client.del(key)
                  : await client.batch(
                      [
                        ...new Set(
                          Array.from({ length: 2 + Math.floor(random() * 6) }, () => `k${Math.floor(random() * 40)}`),
                        ),
                      ].map((k) => ({ key: k, value: 'b'.repeat(10 + Math.floor(random() * 300)) })),
                    );
            statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
          }
        } finally {
          client.close();
        }
      }),
    );
    const conflicted = (await conflicts()) - before;
    const requests = Object.values(statuses).reduce((a, b) => a + b, 0);
    const writes = (statuses[201] ?? 0) + (statuses[204] ?? 0);
    return {
      name,
      requests,
      writesPerSecond: Math.round(writes / SECONDS),
      conflictsPer1000: Math.round((conflicted / Math.max(1, writes)) * 10000) / 10,
      statuses,
    };
  } finally {
    await Promise.all(instances.map((s) => s.stop()));
  }
}

it('measures one instance on one node against two on two, hot and spread', async () => {
  const conn = await nodeConnection(1, null);
  await conn.query(`DROP DATABASE IF EXISTS ${DATABASE}`);
  await conn.query(`CREATE DATABASE ${DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await conn.end();
  // Migrate once.
  const first = instanceOn(1);
  await first.ready();
  await first.stop();
  const runs: Run[] = [];
  for (const [name, nodes, hot] of [
    ['one instance, node 1, hot tenant', [1], true],
    ['two instances, nodes 1+2, hot tenant', [1, 2], true],
    ['one instance, node 1, spread tenants', [1], false],
    ['two instances, nodes 1+2, spread tenants', [1, 2], false],
  ] as [string, Node[], boolean][]) {
    runs.push(await run(name, nodes, hot));
  }
  process.stdout.write(
    `\n${CLIENTS} clients, ${SECONDS} s a run\n` +
      '| run | writes/s | conflicts retried per 1,000 writes | statuses |\n| --- | ---: | ---: | --- |\n' +
      runs
        .map((r) => `| ${r.name} | ${r.writesPerSecond} | ${r.conflictsPer1000} | ${JSON.stringify(r.statuses)} |`)
        .join('\n') +
      '\n',
  );
}, 600_000);
