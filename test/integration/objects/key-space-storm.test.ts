import {
  api,
  describeTargets,
  expectError,
  expectLedgerExact,
  jsonSize,
  listen,
  makeTenant,
  objectPath,
  prng,
  request,
  valueOfSize,
  writeExpiredInDb,
  type Harness,
  type TestTenant,
} from '../../support/harness';

/**
 * Every write form at once: single puts (metadata, expires_in, If-Match, If-None-Match), batches with
 * if_version / if_absent items, batch deletes, prefix deletes and single deletes, with reads in between. First
 * replayed one at a time against a model that predicts every answer to the revision; then as a storm on many
 * tenants at once, after which the ledger, the versions and every answer must still add up.
 */

const CHUNK_ROWS = 7;
const HUGE = 5000;

type Target = Harness['app'] | string;

interface ItemSpec {
  key: string;
  value: string;
  metadata?: Record<string, string>;
  expires_in?: number;
  if_version?: number;
  if_absent?: true;
}

type Op =
  | { kind: 'put'; item: ItemSpec; ifMatch?: number; ifNoneMatch?: true }
  | { kind: 'batch'; items: ItemSpec[] }
  | { kind: 'batchDelete'; keys: string[] }
  | { kind: 'prefixDelete'; prefix: string }
  | { kind: 'delete'; key: string; ifMatch?: number }
  | { kind: 'list'; prefix: string }
  | { kind: 'batchGet'; keys: string[] }
  | { kind: 'quota' };

const KEYS = [
  'k',
  'j',
  'jj',
  ...Array.from({ length: 12 }, (_, i) => `k/${i}`),
  ...Array.from({ length: 6 }, (_, i) => `j/${i}`),
  'j/é',
  'j/😀',
];
const PREFIXES = ['j/', 'k/1', 'k/', 'j'];

const sizeOf = (item: Pick<ItemSpec, 'value' | 'metadata'>): number =>
  jsonSize(item.value) + (item.metadata === undefined ? 0 : jsonSize(item.metadata));
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/**
 * A random operation. `known` is what the client believes a key's version is (its last answer about it), so that
 * conditional writes hold often and fail often.
 */
function nextOp(rand: () => number, known: (key: string) => number | undefined): Op {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const distinctKeys = (n: number): string[] => {
    const keys = new Set<string>();
    while (keys.size < n) keys.add(pick(KEYS));
    return [...keys];
  };
  const version = (key: string): number => {
    const r = rand();
    if (r < 0.6) return known(key) ?? 1;
    if (r < 0.8) return 999_999; // never a version: always fails
    return Math.max(1, (known(key) ?? 1) - 1 - Math.floor(rand() * 3));
  };
  const item = (key: string): ItemSpec => {
    const spec: ItemSpec = { key, value: valueOfSize(2 + Math.floor(rand() * 600)) };
    if (rand() < 0.3) spec.metadata = { m: 'é'.repeat(Math.floor(rand() * 60)) };
    if (rand() < 0.3) spec.expires_in = 1 + Math.floor(rand() * 90);
    return spec;
  };
  const r = rand();
  if (r < 0.2) return { kind: 'put', item: item(pick(KEYS)) };
  if (r < 0.28) {
    const key = pick(KEYS);
    return { kind: 'put', item: item(key), ifMatch: version(key) };
  }
  if (r < 0.35) return { kind: 'put', item: item(pick(KEYS)), ifNoneMatch: true };
  if (r < 0.38) return { kind: 'put', item: { key: pick(KEYS), value: valueOfSize(HUGE) } }; // never fits
  if (r < 0.53) {
    const items = distinctKeys(1 + Math.floor(rand() * 4)).map((key) => {
      const spec = item(key);
      const c = rand();
      if (c < 0.25) spec.if_version = version(key);
      else if (c < 0.4) spec.if_absent = true;
      return spec;
    });
    return { kind: 'batch', items };
  }
  if (r < 0.63) return { kind: 'batchDelete', keys: distinctKeys(1 + Math.floor(rand() * 5)) };
  if (r < 0.67) return { kind: 'prefixDelete', prefix: pick(PREFIXES) };
  if (r < 0.77) {
    const key = pick(KEYS);
    return rand() < 0.3 ? { kind: 'delete', key, ifMatch: version(key) } : { kind: 'delete', key };
  }
  if (r < 0.85) return { kind: 'list', prefix: pick(['', ...PREFIXES]) };
  if (r < 0.95) return { kind: 'batchGet', keys: distinctKeys(1 + Math.floor(rand() * 6)) };
  return { kind: 'quota' };
}

function send(target: Target, t: TestTenant, op: Op) {
  switch (op.kind) {
    case 'put': {
      const { if_version: _v, if_absent: _a, ...body } = op.item;
      let req = request(target).post('/api/object').set(t.auth);
      if (op.ifMatch !== undefined) req = req.set('If-Match', `"${op.ifMatch}"`);
      if (op.ifNoneMatch) req = req.set('If-None-Match', '*');
      return req.send(body);
    }
    case 'batch':
      return request(target).post('/api/batch/object').set(t.auth).send(op.items);
    case 'batchDelete':
      return request(target).post('/api/batch/delete').set(t.auth).send({ keys: op.keys });
    case 'prefixDelete':
      return request(target)
        .delete(`/api/objects?prefix=${encodeURIComponent(op.prefix)}`)
        .set(t.auth);
    case 'delete': {
      const req = request(target).delete(objectPath(op.key)).set(t.auth);
      return op.ifMatch === undefined ? req : req.set('If-Match', `"${op.ifMatch}"`);
    }
    case 'list':
      return request(target)
        .get(`/api/objects?limit=1000&values=true&count=true&prefix=${encodeURIComponent(op.prefix)}`)
        .set(t.auth);
    case 'batchGet':
      return request(target).post('/api/batch/get').set(t.auth).send({ keys: op.keys });
    case 'quota':
      return request(target).get('/api/quota').set(t.auth);
  }
}

/** The statuses an operation may answer, whatever ran beside it. */
function allowedStatuses(op: Op): number[] {
  switch (op.kind) {
    case 'put':
      return op.ifMatch !== undefined || op.ifNoneMatch ? [201, 403, 412] : [201, 403];
    case 'batch':
      return op.items.some((i) => i.if_version !== undefined || i.if_absent) ? [201, 403, 412] : [201, 403];
    case 'delete':
      return op.ifMatch === undefined ? [204] : [204, 412];
    default:
      return [200];
  }
}

interface Stored {
  value: string;
  metadata: Record<string, string> | undefined;
  size: number;
  version: number;
  expiresAt: number | null;
}

interface Expected {
  status: number;
  /** The exact body, or for errors the fields that must match. */
  body?: unknown;
  etag?: string;
}

/** The service as the issue describes it, for one tenant, one request at a time. */
class Model {
  readonly objects = new Map<string, Stored>();
  revision = 0;

  constructor(
    readonly provisioned: number,
    public now: number,
  ) {}

  get utilised(): number {
    let sum = 0;
    for (const o of this.objects.values()) sum += o.size;
    return sum;
  }

  isLive(o: Stored | undefined): o is Stored {
    return o !== undefined && (o.expiresAt === null || o.expiresAt > this.now);
  }

  liveVersion(key: string): number | null {
    const o = this.objects.get(key);
    return this.isLive(o) ? o.version : null;
  }

  apply(op: Op): Expected {
    switch (op.kind) {
      case 'put': {
        const current = this.liveVersion(op.item.key);
        if (op.ifMatch !== undefined && current !== op.ifMatch) return this.failedOne(current);
        if (op.ifNoneMatch && current !== null) return this.failedOne(current);
        return this.write([op.item]);
      }
      case 'batch': {
        const failed = op.items
          .filter((i) => {
            const current = this.liveVersion(i.key);
            if (i.if_version !== undefined) return current !== i.if_version;
            if (i.if_absent) return current !== null;
            return false;
          })
          .map((i) => ({ key: i.key, current_version: this.liveVersion(i.key) }));
        if (failed.length > 0) {
          return { status: 412, body: { code: 'PRECONDITION_FAILED', status_code: 412, failed } };
        }
        return this.write(op.items);
      }
      case 'batchDelete': {
        const present = op.keys.filter((k) => this.objects.has(k));
        const deleted = present.filter((k) => this.isLive(this.objects.get(k))).length;
        if (present.length > 0) {
          present.forEach((k) => this.objects.delete(k));
          this.revision++;
        }
        return { status: 200, body: { deleted } };
      }
      case 'prefixDelete': {
        const rows = [...this.objects.keys()].filter((k) => k.startsWith(op.prefix));
        const deleted = rows.filter((k) => this.isLive(this.objects.get(k))).length;
        rows.forEach((k) => this.objects.delete(k));
        this.revision += Math.ceil(rows.length / CHUNK_ROWS);
        return { status: 200, body: { deleted } };
      }
      case 'delete': {
        const current = this.liveVersion(op.key);
        if (op.ifMatch !== undefined && current !== op.ifMatch) return this.failedOne(current);
        if (this.objects.delete(op.key)) this.revision++;
        return { status: 204 };
      }
      case 'list': {
        const live = [...this.objects.entries()]
          .filter(([k, o]) => k.startsWith(op.prefix) && this.isLive(o))
          .sort(([a], [b]) => byteOrder(a, b));
        return {
          status: 200,
          body: {
            items: live.map(([key, o]) => ({
              key,
              size: o.size,
              ttl: o.expiresAt ?? 0,
              expires_in: o.expiresAt === null ? 0 : o.expiresAt - this.now,
              version: o.version,
              ...(o.metadata === undefined ? {} : { metadata: o.metadata }),
              value: o.value,
            })),
            cursor: null,
            list_complete: true,
            count: live.length,
          },
        };
      }
      case 'batchGet': {
        const items = [];
        const missing = [];
        for (const key of op.keys) {
          const o = this.objects.get(key);
          if (!this.isLive(o)) missing.push(key);
          else {
            items.push({
              key,
              value: o.value,
              ttl: o.expiresAt ?? 0,
              expires_in: o.expiresAt === null ? 0 : o.expiresAt - this.now,
              version: o.version,
              ...(o.metadata === undefined ? {} : { metadata: o.metadata }),
            });
          }
        }
        return { status: 200, body: { items, missing } };
      }
      case 'quota':
        return {
          status: 200,
          body: {
            provisioned: this.provisioned,
            utilised: this.utilised,
            objects: this.objects.size,
            revision: this.revision,
            history_bytes: 0,
          },
        };
    }
  }

  private failedOne(current: number | null): Expected {
    return { status: 412, body: { code: 'PRECONDITION_FAILED', status_code: 412, current_version: current } };
  }

  /** The quota decision, and on refusal the reclaim of every expired object (its own revision), then again. */
  private write(items: ItemSpec[]): Expected {
    const fits = (): boolean => {
      const delta = items.reduce((sum, i) => sum + sizeOf(i) - (this.objects.get(i.key)?.size ?? 0), 0);
      return delta <= 0 || this.utilised + delta <= this.provisioned;
    };
    if (!fits()) {
      const expired = [...this.objects.entries()].filter(([, o]) => !this.isLive(o));
      if (expired.length > 0) {
        expired.forEach(([k]) => this.objects.delete(k));
        this.revision++;
      }
      if (!fits()) return { status: 403, body: { code: 'QUOTA_EXCEEDED', status_code: 403 } };
    }
    const version = ++this.revision;
    for (const i of items) {
      this.objects.set(i.key, {
        value: i.value,
        metadata: i.metadata,
        size: sizeOf(i),
        version,
        expiresAt: i.expires_in === undefined ? null : this.now + i.expires_in,
      });
    }
    return { status: 201, etag: `"${version}"` };
  }
}

/**
 * The ledger next to what is stored, in one statement: utilised against the sum of the rows' sizes and against
 * the bytes of their values and metadata (size = value bytes + metadata bytes), object_count against the rows.
 */
async function expectStoredExact(h: Harness, tenantId: number) {
  const len = h.db.dialect.byteLength;
  const [row] = await h.db.sql.select(
    `SELECT t.utilised AS utilised, t.object_count AS object_count, t.provisioned AS provisioned,
       t.revision AS revision,
       (SELECT COALESCE(SUM(o.size), 0) FROM objects o WHERE o.tenant_id = t.id) AS sizes,
       (SELECT COALESCE(SUM(${len('o.value')} + COALESCE(${len('o.metadata')}, 0)), 0)
          FROM objects o WHERE o.tenant_id = t.id) AS bytes,
       (SELECT COUNT(*) FROM objects o WHERE o.tenant_id = t.id) AS n,
       (SELECT COALESCE(MAX(o.version), 0) FROM objects o WHERE o.tenant_id = t.id) AS max_version
     FROM tenants t WHERE t.id = ?`,
    [tenantId],
  );
  const s = {
    utilised: Number(row.utilised),
    objectCount: Number(row.object_count),
    provisioned: Number(row.provisioned),
    revision: Number(row.revision),
    sizes: Number(row.sizes),
    bytes: Number(row.bytes),
    rows: Number(row.n),
    maxVersion: Number(row.max_version),
  };
  expect({ utilised: s.utilised, sizes: s.sizes, objectCount: s.objectCount }).toEqual({
    utilised: s.bytes,
    sizes: s.bytes,
    objectCount: s.rows,
  });
  expect(s.utilised).toBeLessThanOrEqual(s.provisioned);
  expect(s.maxVersion).toBeLessThanOrEqual(s.revision);
  return s;
}

async function storedObjects(h: Harness, tenantId: number) {
  const rows = await h.db
    .knex('objects')
    .select('k', 'value', 'metadata', 'size', 'version', 'expires_at')
    .where('tenant_id', tenantId);
  return new Map(
    rows.map((r: Record<string, unknown>) => [
      h.db.dialect.keyText(r.k),
      {
        value: JSON.parse(r.value as string) as string,
        metadata: r.metadata === null ? undefined : (JSON.parse(r.metadata as string) as Record<string, string>),
        size: Number(r.size),
        version: Number(r.version),
        expiresAt: r.expires_at === null ? null : Number(r.expires_at),
      } satisfies Stored,
    ]),
  );
}

function expectAnswer(res: { status: number; body: unknown; headers: Record<string, string> }, want: Expected): void {
  expect({ status: res.status, body: res.body }).toMatchObject({ status: want.status });
  if (want.status === 403) expectError(res, 403, 'QUOTA_EXCEEDED');
  else if (want.status === 412) {
    expect(res.body).toEqual({ message: expect.any(String), ...(want.body as object) });
  } else if (want.body !== undefined) expect(res.body).toEqual(want.body);
  if (want.etag !== undefined) expect(res.headers.etag).toBe(want.etag);
}

describeTargets(
  'the key space under every write form',
  (h) => {
    it('answers a long random sequence exactly as the model predicts, to the byte and the revision', async () => {
      const t = await makeTenant(h, 4000);
      const model = new Model(4000, h.clock.freeze());
      const rand = prng(1210);
      const counts: Record<string, number> = {};
      for (let step = 0; step < 400; step++) {
        if (step % 50 === 49) {
          // Time passes: some objects expire, and hold their bytes until a refused write reclaims them.
          h.clock.offsetSeconds += 40;
          model.now += 40;
        }
        const op = nextOp(rand, (key) => model.objects.get(key)?.version);
        const want = model.apply(op);
        const res = await send(h.app, t, op);
        try {
          expectAnswer(res, want);
        } catch (err) {
          throw new Error(`step ${step}: ${JSON.stringify(op).slice(0, 300)}\n${(err as Error).message}`, {
            cause: err,
          });
        }
        const label = `${op.kind} ${res.status}`;
        counts[label] = (counts[label] ?? 0) + 1;
      }
      // The run went through every outcome, not only the easy ones.
      const outcomes = [
        'put 201',
        'put 403',
        'put 412',
        'batch 201',
        'batch 403',
        'batch 412',
        'batchDelete 200',
        'prefixDelete 200',
        'delete 204',
        'delete 412',
        'list 200',
        'batchGet 200',
      ];
      expect(outcomes.filter((label) => !counts[label])).toEqual([]);
      // What is stored is what the model holds.
      const stored = await storedObjects(h, t.id);
      expect(Object.fromEntries(stored)).toEqual(Object.fromEntries(model.objects));
      const s = await expectStoredExact(h, t.id);
      expect(s).toMatchObject({ utilised: model.utilised, objectCount: model.objects.size, revision: model.revision });
      await expectLedgerExact(h, t.id);
    });

    describe('a storm on many tenants', () => {
      let server: { url: string; close(): Promise<void> };
      beforeAll(async () => {
        server = await listen(h);
      });
      afterAll(async () => {
        await server.close();
      });

      it('keeps every ledger exact, the quota never passed, and every version unique and current', async () => {
        const TENANTS = 12;
        const WORKERS = 3;
        const OPS = 30;
        const provisioned = 3000;
        const tenants = await Promise.all(Array.from({ length: TENANTS }, () => makeTenant(h, provisioned)));
        /** Per tenant: every successful write's version and keys; what the client last heard of each key. */
        const writes = tenants.map(() => new Map<number, string[]>());
        const known = tenants.map(() => new Map<string, number>());
        const record = (ti: number, version: number, keys: string[]): void => {
          expect(writes[ti].has(version)).toBe(false);
          writes[ti].set(version, keys);
          for (const key of keys) known[ti].set(key, version);
        };
        // Each tenant starts with live objects and expired ones, whose bytes a refused write must reclaim.
        for (const [ti, t] of tenants.entries()) {
          const seed = [
            { key: 'k/0', value: valueOfSize(400) },
            { key: 'j/0', value: valueOfSize(300), metadata: { m: 'seed' } },
          ];
          const res = await api(h, t).batch(seed).expect(201);
          record(ti, Number(JSON.parse(res.headers.etag)), ['k/0', 'j/0']);
          const old = await writeExpiredInDb(h, (ttl) =>
            api(h, t)
              .batch([
                { key: 'k/5', value: valueOfSize(700), ttl },
                { key: 'j/3', value: valueOfSize(500), ttl },
              ])
              .expect(201),
          );
          record(ti, Number(JSON.parse(old.headers.etag)), ['k/5', 'j/3']);
        }

        const outcomes: { ti: number; op: Op; status: number; body: Record<string, unknown> }[] = [];
        const worker = async (ti: number, w: number): Promise<void> => {
          const rand = prng(5000 + ti * 100 + w);
          const t = tenants[ti];
          for (let i = 0; i < OPS; i++) {
            const op = nextOp(rand, (key) => known[ti].get(key));
            const res = await send(server.url, t, op);
            const body = (res.body ?? {}) as Record<string, unknown>;
            outcomes.push({ ti, op, status: res.status, body });
            if (res.status === 201) {
              const keys = op.kind === 'put' ? [op.item.key] : op.kind === 'batch' ? op.items.map((x) => x.key) : [];
              record(ti, Number(JSON.parse(res.headers.etag)), keys);
            }
            if (res.status === 412 && typeof body.current_version === 'number' && op.kind !== 'batch') {
              known[ti].set(op.kind === 'put' ? op.item.key : (op as { key: string }).key, body.current_version);
            }
            if (op.kind === 'quota' && res.status === 200) {
              expect(body.utilised as number).toBeLessThanOrEqual(provisioned);
            }
          }
        };
        await Promise.all(tenants.flatMap((_, ti) => Array.from({ length: WORKERS }, (_, w) => worker(ti, w))));

        // Every answer is one the operation may give; no 5xx at all.
        expect(outcomes).toHaveLength(TENANTS * WORKERS * OPS);
        expect(outcomes.filter((o) => o.status >= 500)).toEqual([]);
        expect(
          outcomes.filter((o) => !allowedStatuses(o.op).includes(o.status)).map((o) => [o.op.kind, o.status, o.body]),
        ).toEqual([]);
        for (const o of outcomes) {
          if (o.status === 403) expect(o.body.code).toBe('QUOTA_EXCEEDED');
          if (o.status === 412) {
            expect(o.body.code).toBe('PRECONDITION_FAILED');
            if (o.op.kind === 'batch') {
              const conditioned = o.op.items.filter((x) => x.if_version !== undefined || x.if_absent).map((x) => x.key);
              const failed = o.body.failed as { key: string; current_version: number | null }[];
              expect(failed.length).toBeGreaterThan(0);
              for (const f of failed) {
                expect(conditioned).toContain(f.key);
                expect(f.current_version === null || Number.isInteger(f.current_version)).toBe(true);
              }
            } else {
              expect(o.body).toHaveProperty('current_version');
            }
          }
        }
        const tally = (status: number, kinds: Op['kind'][]): number =>
          outcomes.filter((o) => o.status === status && kinds.includes(o.op.kind)).length;
        // The storm did what it says: many writes went through, some raced for quota and lost, some lost a
        // precondition, and deletes of every form ran.
        expect(tally(201, ['put', 'batch'])).toBeGreaterThan(100);
        expect(tally(403, ['put', 'batch'])).toBeGreaterThan(0);
        expect(tally(412, ['put', 'batch', 'delete'])).toBeGreaterThan(0);
        expect(tally(412, ['batch'])).toBeGreaterThan(0);
        expect(outcomes.some((o) => o.op.kind === 'batchDelete' && (o.body.deleted as number) > 0)).toBe(true);
        expect(outcomes.some((o) => o.op.kind === 'prefixDelete' && (o.body.deleted as number) > 0)).toBe(true);
        expect(tally(204, ['delete'])).toBeGreaterThan(0);

        for (const [ti, t] of tenants.entries()) {
          const s = await expectStoredExact(h, t.id);
          await expectLedgerExact(h, t.id);
          const quota = (await api(h, t).quota().expect(200)).body;
          expect(quota).toEqual({
            provisioned,
            utilised: s.utilised,
            objects: s.objectCount,
            revision: s.revision,
            history_bytes: 0,
          });
          // Versions: one per successful write, all below the revision; a stored object carries the version of the
          // last write of its key, and objects written by one batch share it.
          const versions = [...writes[ti].keys()];
          expect(Math.max(...versions)).toBeLessThanOrEqual(s.revision);
          const lastWrite = new Map<string, number>();
          for (const [version, keys] of writes[ti]) {
            for (const key of keys) lastWrite.set(key, Math.max(lastWrite.get(key) ?? 0, version));
          }
          for (const [key, o] of await storedObjects(h, t.id)) {
            expect({ key, version: o.version }).toEqual({ key, version: lastWrite.get(key) });
            expect(writes[ti].get(o.version)).toContain(key);
          }
          // At least one revision per successful write and per delete that removed a live object.
          const mine = outcomes.filter((o) => o.ti === ti);
          const removing = mine.filter(
            (o) => (o.op.kind === 'batchDelete' || o.op.kind === 'prefixDelete') && (o.body.deleted as number) > 0,
          ).length;
          expect(s.revision).toBeGreaterThanOrEqual(versions.length + removing);
        }
      });
    });
  },
  { env: { PURGE_CHUNK_ROWS: String(CHUNK_ROWS) } },
);
