import crypto from 'node:crypto';
import { entryHash, type AuditEntry } from '../../../src/features/audit';
import { describeTargets, listen, makeTenant, request, uniqueName } from '../../support/harness';

const KEY_A = 'audit-test-key-aaaaaaaaaaaaaaaaaaaa';
const KEY_B = 'audit-test-key-bbbbbbbbbbbbbbbbbbbb';
const as = (key: string) => ({ Authorization: `Bearer ${key}` });
const asAdmin = as(KEY_A);

/** Computed here rather than imported: the test states what a fingerprint is. */
const fingerprint = (key: string): string => crypto.createHash('sha256').update(key).digest('hex').slice(0, 12);

/** The row as stored, column by column, so that a test can put back exactly what it broke. */
interface StoredRow {
  id: number;
  [column: string]: unknown;
}

describeTargets(
  'audit log',
  (h, target) => {
    const headId = async (): Promise<number> => Number((await h.db.knex('audit_head').first('last_id')).last_id);

    /** Every entry after `since`, through the API, page by page. */
    async function entriesSince(since: number): Promise<AuditEntry[]> {
      const entries: AuditEntry[] = [];
      for (let after = since; ;) {
        const res = await request(h.app).get(`/api/admin/audit?since=${after}&limit=1000`).set(asAdmin).expect(200);
        if (res.body.entries.length === 0) return entries;
        entries.push(...res.body.entries);
        after = res.body.next_since;
      }
    }

    const entriesOf = async (since: number, targets: string[]): Promise<AuditEntry[]> =>
      (await entriesSince(since)).filter((e) => targets.includes(e.target));

    const verify = async (): Promise<{ ok: boolean; rows_checked: number; first_bad_id?: number }> =>
      (await request(h.app).get('/api/admin/audit/verify').set(asAdmin).expect(200)).body;

    async function createTenant(body: Record<string, unknown> = {}): Promise<number> {
      const res = await request(h.app)
        .post('/api/admin/tenants')
        .set(asAdmin)
        .send({ user_name: uniqueName('aud'), provisioned_capacity: 1000, ...body })
        .expect(201);
      return res.body.id;
    }

    const patch = (id: number, body: Record<string, unknown>, key = KEY_A) =>
      request(h.app).patch(`/api/admin/tenants/${id}`).set(as(key)).send(body);

    const storedRow = async (id: number): Promise<StoredRow> => h.db.knex('audit_log').where('id', id).first();

    /** A fresh row of the test's own, so that a tampering test breaks a row it knows. */
    async function freshRow(): Promise<StoredRow> {
      const since = await headId();
      const id = await createTenant();
      const [entry] = await entriesOf(since, [`tenant:${id}`]);
      return storedRow(entry.id);
    }

    /** Breaks the chain with `tamper`, checks what verify says, and puts the rows back as they were. */
    async function expectDetected(tamper: () => Promise<void>, restore: () => Promise<void>, badId: number) {
      try {
        await tamper();
        const verdict = await verify();
        expect(verdict).toEqual({ ok: false, rows_checked: expect.any(Number), first_bad_id: badId });
        expect(verdict.rows_checked).toBeLessThanOrEqual(Math.max(badId - 1, 0));
      } finally {
        await restore();
      }
      expect(await verify()).toMatchObject({ ok: true });
    }

    it('appends one row per admin action: who, what, on which target, the changed fields before and after', async () => {
      const since = await headId();
      const id = await createTenant({ password: 'first-password-1' });
      await patch(id, { provisioned_capacity: 2000 }, KEY_B).expect(200);
      await patch(id, { suspended: true }).expect(200);
      await patch(id, { suspended: false }).expect(200);
      await patch(id, { password: 'second-password-2' }).expect(200);
      await patch(id, { read_only: true }).expect(200);
      await patch(id, { rate_limit_rps: 5, rate_limit_burst: 10 }).expect(200);
      await patch(id, { history_depth: h.config.historyDepth + 2 }).expect(200);
      await patch(id, { provisioned_capacity: 3000, read_only: false, rate_limit_rps: 5 }).expect(200);
      const token = await request(h.app)
        .post(`/api/admin/tenants/${id}/tokens`)
        .set(as(KEY_B))
        .send({ scopes: ['read'], name: 'reporting' })
        .expect(201);
      await request(h.app).delete(`/api/admin/tenants/${id}/tokens/${token.body.id}`).set(asAdmin).expect(204);
      await request(h.app).delete(`/api/admin/tenants/${id}`).set(asAdmin).expect(204);

      const entries = await entriesOf(since, [`tenant:${id}`, `token:${token.body.id}`]);
      const a = fingerprint(KEY_A);
      const b = fingerprint(KEY_B);
      const tenant = `tenant:${id}`;
      const created = {
        user_name: expect.stringMatching(/^aud-/),
        provisioned_capacity: 1000,
        suspended: false,
        history_depth: h.config.historyDepth,
        rate_limit_rps: null,
        rate_limit_burst: null,
        read_only: false,
        password: 'changed',
      };
      expect(
        entries.map(({ actor, action, target, before, after }) => ({ actor, action, target, before, after })),
      ).toEqual([
        { actor: a, action: 'tenant.create', target: tenant, before: null, after: created },
        {
          actor: b,
          action: 'tenant.quota',
          target: tenant,
          before: { provisioned_capacity: 1000 },
          after: { provisioned_capacity: 2000 },
        },
        {
          actor: a,
          action: 'tenant.suspend',
          target: tenant,
          before: { suspended: false },
          after: { suspended: true },
        },
        { actor: a, action: 'tenant.resume', target: tenant, before: { suspended: true }, after: { suspended: false } },
        { actor: a, action: 'tenant.password', target: tenant, before: {}, after: { password: 'changed' } },
        {
          actor: a,
          action: 'tenant.read_only',
          target: tenant,
          before: { read_only: false },
          after: { read_only: true },
        },
        {
          actor: a,
          action: 'tenant.rate_limit',
          target: tenant,
          before: { rate_limit_rps: null, rate_limit_burst: null },
          after: { rate_limit_rps: 5, rate_limit_burst: 10 },
        },
        {
          actor: a,
          action: 'tenant.history',
          target: tenant,
          before: { history_depth: h.config.historyDepth },
          after: { history_depth: h.config.historyDepth + 2 },
        },
        // Several things at once: one row, with only what changed (the rate was 5 already).
        {
          actor: a,
          action: 'tenant.update',
          target: tenant,
          before: { provisioned_capacity: 2000, read_only: true },
          after: { provisioned_capacity: 3000, read_only: false },
        },
        {
          actor: b,
          action: 'token.create',
          target: `token:${token.body.id}`,
          before: null,
          after: { tenant_id: id, name: 'reporting', scopes: ['read'], expires_at: null },
        },
        {
          actor: a,
          action: 'token.revoke',
          target: `token:${token.body.id}`,
          before: { revoked: false },
          after: { revoked: true },
        },
        {
          actor: a,
          action: 'tenant.delete',
          target: tenant,
          before: { user_name: created.user_name, deleted: false },
          after: { deleted: true },
        },
      ]);
      for (const e of entries) {
        expect(e.client_address).toMatch(/127\.0\.0\.1|::1/);
        expect(e.at).toBeGreaterThan(Date.now() - 60_000);
      }
      expect(entries.map((e) => e.id)).toEqual([...entries.map((e) => e.id)].sort((x, y) => x - y));
    });

    it('never stores an admin key, a password or a password hash', async () => {
      const password = `secret-${uniqueName()}`;
      const id = await createTenant({ password });
      const newPassword = `secret-${uniqueName()}`;
      await patch(id, { password: newPassword }, KEY_B).expect(200);
      const { password_hash: hash } = await h.db.knex('tenants').first('password_hash').where('id', id);
      const stored = JSON.stringify(await h.db.knex('audit_log').select('*'));
      for (const secret of [KEY_A, KEY_B, password, newPassword, hash as string]) expect(stored).not.toContain(secret);
      expect(stored).toContain(fingerprint(KEY_A));
      expect(stored).toContain(fingerprint(KEY_B));
    });

    it('appends nothing for an action that fails', async () => {
      const since = await headId();
      const id = await createTenant();
      const { body: tenant } = await request(h.app).get(`/api/admin/tenants/${id}`).set(asAdmin).expect(200);
      const missing = id + 1_000_000;
      await patch(missing, { suspended: true }).expect(404);
      await patch(id, { provisioned_capacity: -1 }).expect(400);
      await request(h.app)
        .post('/api/admin/tenants')
        .set(asAdmin)
        .send({ user_name: tenant.user_name, provisioned_capacity: 5 })
        .expect(409);
      await request(h.app).delete(`/api/admin/tenants/${missing}`).set(asAdmin).expect(404);
      await request(h.app)
        .post(`/api/admin/tenants/${missing}/tokens`)
        .set(asAdmin)
        .send({ scopes: ['read'] })
        .expect(404);
      await request(h.app)
        .delete(`/api/admin/tenants/${id}/tokens/tok_000000000000000000000000`)
        .set(asAdmin)
        .expect(404);
      const mine = (await entriesSince(since)).filter((e) => e.actor === fingerprint(KEY_A));
      expect(mine.map((e) => [e.action, e.target])).toEqual([['tenant.create', `tenant:${id}`]]);
    });

    it('rolls the change back when its audit row cannot be written: both commit, or neither', async () => {
      const t = await makeTenant(h);
      const trigger = `audit_refuse_${t.id}`;
      await h.db.knex.raw(
        target === 'mysql'
          ? `CREATE TRIGGER ${trigger} BEFORE INSERT ON audit_log FOR EACH ROW BEGIN
               IF NEW.target = 'tenant:${t.id}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'; END IF;
             END`
          : `CREATE TRIGGER ${trigger} BEFORE INSERT ON audit_log WHEN NEW.target = 'tenant:${t.id}'
             BEGIN SELECT RAISE(ABORT, 'refused'); END`,
      );
      try {
        await patch(t.id, { suspended: true, provisioned_capacity: 1 }).expect(500);
      } finally {
        await h.db.knex.raw(`DROP TRIGGER ${trigger}`);
      }
      const stored = await h.db.knex('tenants').first('suspended', 'provisioned', 'token_version').where('id', t.id);
      expect({ ...stored, suspended: Boolean(stored.suspended) }).toEqual({
        suspended: false,
        provisioned: 1024 * 1024,
        token_version: 0,
      });
      expect(await entriesOf(0, [`tenant:${t.id}`])).toEqual([]);
      await patch(t.id, { suspended: true }).expect(200);
      expect(await entriesOf(0, [`tenant:${t.id}`])).toHaveLength(1);
    });

    it('records authentication failures: a missing key, a wrong key, a tenant token', async () => {
      const since = await headId();
      const wrongKey = `wrong-key-${uniqueName()}`;
      const t = await makeTenant(h);
      await request(h.app).get('/api/admin/tenants').expect(401);
      await request(h.app).get('/api/admin/tenants').set(as(wrongKey)).expect(401);
      await request(h.app).patch(`/api/admin/tenants/${t.id}`).set(t.auth).send({ suspended: true }).expect(403);
      // Appended before the answer: no waiting.
      const failures = (await entriesSince(since)).filter((e) => e.action === 'auth.failure');
      const failure = (actor: string | null, reason: string) => ({
        actor,
        action: 'auth.failure',
        target: 'admin_api',
        client_address: expect.stringMatching(/127\.0\.0\.1|::1/),
        before: null,
        after: { reason, count: 1 },
      });
      expect(failures).toContainEqual(expect.objectContaining(failure(null, 'missing_key')));
      expect(failures).toContainEqual(expect.objectContaining(failure(fingerprint(wrongKey), 'invalid_key')));
      expect(failures).toContainEqual(expect.objectContaining(failure(fingerprint(t.token), 'tenant_token')));
      const stored = JSON.stringify(await h.db.knex('audit_log').select('*').where('id', '>', since));
      expect(stored).not.toContain(wrongKey);
      expect(stored).not.toContain(t.token);
    });

    it('coalesces a flood of failures from one source: its first at once, the rest counted in one row a second', async () => {
      const since = await headId();
      const wrongKey = `wrong-key-${uniqueName()}`;
      const flood = 40;
      await Promise.all(
        Array.from({ length: flood }, () => request(h.app).get('/api/admin/tenants').set(as(wrongKey)).expect(401)),
      );
      const rows = async () =>
        (await entriesSince(since)).filter((e) => e.action === 'auth.failure' && e.actor === fingerprint(wrongKey));
      const counted = async () => (await rows()).reduce((sum, e) => sum + Number(e.after?.count), 0);
      // The rest are appended when the window ends.
      const deadline = Date.now() + 10_000;
      while ((await counted()) < flood && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const written = await rows();
      expect(await counted()).toBe(flood);
      expect(written[0].after).toEqual({ reason: 'invalid_key', count: 1 });
      expect(written.length).toBeLessThan(flood / 4);
    });

    it('pages in id order: since is exclusive, limit bounds the page, next_since leads on', async () => {
      const since = await headId();
      const id = await createTenant();
      for (const capacity of [1, 2, 3, 4]) await patch(id, { provisioned_capacity: capacity }).expect(200);
      const page = async (query: string) =>
        (await request(h.app).get(`/api/admin/audit?${query}`).set(asAdmin).expect(200)).body as {
          entries: AuditEntry[];
          next_since: number;
        };
      // Ids are contiguous: the first two after `since` are since+1 and since+2, whoever wrote them.
      const first = await page(`since=${since}&limit=2`);
      expect(first.entries.map((e) => e.id)).toEqual([since + 1, since + 2]);
      expect(first.next_since).toBe(since + 2);
      const second = await page(`since=${first.next_since}&limit=2`);
      expect(second.entries.map((e) => e.id)).toEqual([since + 3, since + 4]);
      expect((await page(`since=${since}`)).entries.length).toBeGreaterThanOrEqual(5);
      const mine = await entriesOf(since, [`tenant:${id}`]);
      expect(mine.map((e) => e.after)).toEqual([
        expect.objectContaining({ provisioned_capacity: 1000 }),
        { provisioned_capacity: 1 },
        { provisioned_capacity: 2 },
        { provisioned_capacity: 3 },
        { provisioned_capacity: 4 },
      ]);
      const end = (await headId()) + 1000;
      expect(await page(`since=${end}`)).toEqual({ entries: [], next_since: end });
      const first100 = await page('');
      expect(first100.entries[0].id).toBe(1);
      expect(first100.entries.length).toBeLessThanOrEqual(100);
      for (const bad of ['limit=0', 'limit=1001', 'since=-1', 'since=x']) {
        const res = await request(h.app).get(`/api/admin/audit?${bad}`).set(asAdmin).expect(400);
        expect(res.body.code).toBe('VALIDATION_FAILED');
      }
      await request(h.app).get('/api/admin/audit').expect(401);
      await request(h.app)
        .get('/api/admin/audit/verify')
        .set(as(`wrong-key-${uniqueName()}`))
        .expect(401);
    });

    it('chains every row to the one before: the hash of its content and of its predecessor', async () => {
      await createTenant();
      const entries = await entriesSince(0);
      let previous = '0'.repeat(64);
      for (const e of entries) {
        expect(e.prev_hash).toBe(previous);
        const { hash, ...content } = e;
        expect(entryHash(content)).toBe(hash);
        previous = hash;
      }
      const verdict = await verify();
      expect(verdict.ok).toBe(true);
      expect(verdict.rows_checked).toBeGreaterThanOrEqual(entries.length);
      expect(verdict.first_bad_id).toBeUndefined();
    });

    it('detects a row whose field was edited, and names it', async () => {
      const row = await freshRow();
      await expectDetected(
        () => h.db.knex('audit_log').where('id', row.id).update({ actor: '000000000000' }),
        () => h.db.knex('audit_log').where('id', row.id).update({ actor: row.actor }),
        row.id,
      );
      await expectDetected(
        () => h.db.knex('audit_log').where('id', row.id).update({ after_json: '{"provisioned_capacity":1}' }),
        () => h.db.knex('audit_log').where('id', row.id).update({ after_json: row.after_json }),
        row.id,
      );
    });

    it('detects a row rewritten together with its hash, and names it', async () => {
      const row = await freshRow();
      await createTenant();
      const [entry] = await entriesSince(row.id - 1);
      const forged = { ...entry, action: 'tenant.resume' };
      const { hash: _hash, ...content } = forged;
      await expectDetected(
        () =>
          h.db
            .knex('audit_log')
            .where('id', row.id)
            .update({ action: forged.action, hash: entryHash(content) }),
        () => h.db.knex('audit_log').where('id', row.id).update({ action: row.action, hash: row.hash }),
        row.id,
      );
    });

    it('detects a removed row in the middle, and names it', async () => {
      const row = await freshRow();
      await createTenant();
      await expectDetected(
        () => h.db.knex('audit_log').where('id', row.id).delete(),
        () => h.db.knex('audit_log').insert(row),
        row.id,
      );
    });

    it('detects removed last rows: the head names the end of the chain', async () => {
      await createTenant();
      // Appends by others may follow: the removed row is then in the middle, and named all the same.
      const last = await storedRow(await headId());
      await expectDetected(
        () => h.db.knex('audit_log').where('id', last.id).delete(),
        () => h.db.knex('audit_log').insert(last),
        last.id,
      );
    });

    it('detects a forged row inserted out of place: past the end, or before the first', async () => {
      const head = await h.db.knex('audit_head').first('last_id', 'hash');
      for (const id of [Number(head.last_id) + 1000, 0]) {
        const content = {
          id,
          at: Date.now(),
          actor: fingerprint(KEY_A),
          action: 'tenant.create',
          target: 'tenant:1',
          client_address: '127.0.0.1',
          before: null,
          after: { user_name: 'forged' },
          prev_hash: id === 0 ? '0'.repeat(64) : String(head.hash),
        };
        await expectDetected(
          () =>
            h.db.knex('audit_log').insert({
              id,
              at: content.at,
              actor: content.actor,
              action: content.action,
              target: content.target,
              client_address: content.client_address,
              before_json: null,
              after_json: JSON.stringify(content.after),
              prev_hash: content.prev_hash,
              hash: entryHash(content),
            }),
          () => h.db.knex('audit_log').where('id', id).delete(),
          id,
        );
      }
    });

    it('keeps one valid chain under concurrent admin calls: each chains to the one before it', async () => {
      const id = await createTenant();
      const since = await headId();
      const server = await listen(h);
      try {
        const answers = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            request(server.url)
              .patch(`/api/admin/tenants/${id}`)
              .set(asAdmin)
              .send({ provisioned_capacity: i + 1 }),
          ),
        );
        expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
      } finally {
        await server.close();
      }
      const mine = await entriesOf(since, [`tenant:${id}`]);
      expect(mine).toHaveLength(20);
      // Each recorded the value it replaced: the changes were serialised, and so were their rows.
      let capacity = 1000;
      for (const e of mine) {
        expect(e.before).toEqual({ provisioned_capacity: capacity });
        capacity = Number(e.after?.provisioned_capacity);
      }
      expect(new Set(mine.map((e) => e.after?.provisioned_capacity)).size).toBe(20);
      expect(await verify()).toMatchObject({ ok: true });
    });
  },
  { env: { ADMIN_API_KEYS: `${KEY_A},${KEY_B}` } },
);
