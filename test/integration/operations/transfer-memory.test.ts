import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describeTargets, listen, makeTenant, type Harness } from '../../support/harness';

/** GET /api/export holds a page at a time, whatever the tenant's size and however slowly the client reads. */

const KEYS = 200_000;
const VALUE = JSON.stringify('v'.repeat(300));
const SAMPLES = 20;
/** Rows an INSERT writes: knex writes a multi-row insert on SQLite as a compound SELECT, of at most 500 terms. */
const ROWS = 400;

// A full collection before each sample, so that what is measured is what the process holds, not its garbage.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const liveHeap = (): number => {
  gc();
  return process.memoryUsage().heapUsed;
};

/** The tenant's objects written straight into the table, in statements of ROWS rows: fast, for bulk. */
async function seed(h: Harness, tenantId: number): Promise<void> {
  const size = Buffer.byteLength(VALUE);
  await h.db.knex.transaction(async (trx) => {
    for (let from = 0; from < KEYS; from += ROWS) {
      const rows = Array.from({ length: Math.min(ROWS, KEYS - from) }, (_, i) => ({
        tenant_id: tenantId,
        k: `k/${String(from + i).padStart(6, '0')}`,
        value: VALUE,
        metadata: null,
        size,
        expires_at: null,
        version: 1,
        written_at: null,
      }));
      await trx('objects').insert(rows);
    }
  });
}

describeTargets('export memory', (h) => {
  it(`streams ${KEYS} keys with the heap flat, to a client that reads in the same process`, async () => {
    const t = await makeTenant(h, 1 << 30);
    await seed(h, t.id);
    const server = await listen(h);
    try {
      const baseline = liveHeap();
      let lines = 0;
      let bytes = 0;
      let growth = 0;
      await new Promise<void>((resolve, reject) => {
        const req = http.get(`${server.url}/api/export`, { headers: t.auth, agent: false }, (res) => {
          // A slow reader: at most 16 KiB a turn of the event loop it shares with the server, and a full
          // collection every so often. Without backpressure, what the server has not sent would pile up in it.
          const pump = (): void => {
            const chunk = (res.read(16384) ?? res.read()) as Buffer | null;
            if (chunk === null) {
              res.once('readable', pump);
              return;
            }
            bytes += chunk.length;
            for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
              if (++lines % (KEYS / SAMPLES) === 0) growth = Math.max(growth, liveHeap() - baseline);
            }
            setImmediate(pump);
          };
          pump();
          res.on('end', resolve);
          res.on('error', reject);
        });
        req.on('error', reject);
      });
      expect(lines).toBe(KEYS);
      expect(bytes).toBeGreaterThan(64 * 1024 * 1024);
      // A page is about 350 KB of lines: holding the stream would be the whole 70 MB.
      expect(growth).toBeLessThan(16 * 1024 * 1024);
    } finally {
      await server.close();
    }
  });
});
