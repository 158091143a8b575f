import { WriteUnit } from '../../../src/features/objects/write-unit';
import type { LockedRow, ObjectWrite } from '../../../src/features/objects/write-model';

const NOW = 1_000;
const tenant = { provisioned: 100, utilised: 30, objects: 2, revision: 10, historyDepth: 0, historyBytes: 0 };
const row = (key: string, size: number, version: number, expiresAt: number | null = null): LockedRow => ({
  key,
  size,
  version,
  expiresAt,
});
const write = (key: string, size: number, extra: Partial<ObjectWrite> = {}): ObjectWrite => ({
  key,
  value: 'x',
  metadata: null,
  size,
  expiresAt: null,
  ...extra,
});
const unit = (rows: LockedRow[], ledger = tenant) =>
  new WriteUnit(ledger, new Map(rows.map((r) => [r.key, r])), [], NOW, NOW * 1000);

describe('WriteUnit', () => {
  it('decides commands in order against what the earlier ones left, each with the next revision', () => {
    const u = unit([row('a', 10, 3), row('b', 20, 4)]);
    expect(u.decide({ kind: 'put', writes: [write('a', 15)] })).toEqual({ status: 'written', version: 11, deleted: 0 });
    expect(
      u.decide({ kind: 'put', writes: [write('a', 5, { precondition: { kind: 'version', versions: [3] } })] }),
    ).toEqual({
      status: 'precondition_failed',
      failed: [{ key: 'a', currentVersion: 11 }],
    });
    expect(u.decide({ kind: 'delete', keys: ['b', 'missing'] })).toEqual({
      status: 'written',
      version: 12,
      deleted: 1,
    });
    expect(u.decide({ kind: 'delete', keys: ['b'] })).toEqual({ status: 'unchanged', deleted: 0 });
    expect(u.changes()).toMatchObject({ deletes: ['b'], bytes: 5 - 20, objects: -1, revisions: 2 });
    expect(u.changes().upserts).toEqual([{ ...write('a', 15), version: 11, writtenAtMs: NOW * 1000, exists: true }]);
  });

  it('refuses what would pass the quota, counting the writes decided before it, and takes no revision', () => {
    const u = unit([]);
    expect(u.decide({ kind: 'put', writes: [write('a', 60)] }).status).toBe('written');
    expect(u.decide({ kind: 'put', writes: [write('b', 11)] })).toEqual({ status: 'quota_exceeded' });
    expect(u.decide({ kind: 'put', writes: [write('b', 10)] }).status).toBe('written');
    expect(u.changes()).toMatchObject({ bytes: 70, objects: 2, revisions: 2 });
  });

  it('treats an expired object as absent to a precondition, and charges its overwrite against its size', () => {
    const u = unit([row('old', 25, 5, NOW)]);
    expect(u.decide({ kind: 'put', writes: [write('old', 5, { precondition: { kind: 'exists' } })] })).toEqual({
      status: 'precondition_failed',
      failed: [{ key: 'old', currentVersion: null }],
    });
    expect(u.decide({ kind: 'put', writes: [write('old', 5, { precondition: { kind: 'absent' } })] }).status).toBe(
      'written',
    );
    expect(u.changes()).toMatchObject({ bytes: -20, objects: 0 });
  });

  it('refunds reclaimed rows it had not written, in a revision of their own; keeps a written one’s charge', () => {
    // 55 bytes in three expired objects, of which the unit reads two.
    const u = unit([row('gone', 40, 2, NOW - 1), row('kept', 10, 1, NOW - 1)], { ...tenant, utilised: 55, objects: 3 });
    expect(u.decide({ kind: 'put', writes: [write('kept', 12)] }).status).toBe('written');
    expect(u.decide({ kind: 'put', writes: [write('new', 60)] })).toEqual({ status: 'quota_exceeded' });
    u.reclaimed([row('gone', 40, 2, NOW - 1), row('kept', 10, 1, NOW - 1), row('other', 5, 1, NOW - 1)]);
    expect(u.decide({ kind: 'put', writes: [write('new', 60)] })).toEqual({
      status: 'written',
      version: 13,
      deleted: 0,
    });
    const changes = u.changes();
    // The reclaim deleted the rows already: `kept` is written back as a new row, nothing is left to delete.
    expect(changes.deletes).toEqual([]);
    expect(changes.upserts.map((w) => [w.key, w.exists])).toEqual([
      ['kept', false],
      ['new', false],
    ]);
    expect(changes).toMatchObject({ bytes: 2 - 40 - 5 + 60, objects: -2 + 1, revisions: 3 });
    // The reclaim's revision (12) records what expired; `kept`, written over, is not among them.
    expect(changes.changes.map((c) => [c.revision, c.type, c.key])).toEqual([
      [11, 'put', 'kept'],
      [12, 'expire', 'gone'],
      [12, 'expire', 'other'],
      [13, 'put', 'new'],
    ]);
  });

  it('takes no revision for a reclaim that removed nothing it had not written', () => {
    const u = unit([row('kept', 10, 1, NOW - 1)]);
    u.decide({ kind: 'put', writes: [write('kept', 12)] });
    u.reclaimed([row('kept', 10, 1, NOW - 1)]);
    expect(u.changes().revisions).toBe(1);
    expect(u.changes().changes.map((c) => c.type)).toEqual(['put']);
  });
});
