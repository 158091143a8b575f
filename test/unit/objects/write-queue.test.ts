import { MAX_GROUP_COMMANDS, MAX_QUEUED_PER_TENANT, WriteQueue } from '../../../src/features/objects/write-queue';
import type { WritePipeline } from '../../../src/features/objects/write-pipeline';
import type { WriteStrategy } from '../../../src/features/objects/write-strategies';
import type { ObjectWrite, WriteCommand, WriteOutcome } from '../../../src/features/objects/write-model';
import { AppError } from '../../../src/platform/errors';

const AT = { ms: 1_000_000, seconds: 1_000 };
const write = (key: string, size = 10): ObjectWrite => ({ key, value: 'x', metadata: null, size, expiresAt: null });

/** A pipeline whose transactions finish when the test says: each call waits on a gate of its own. */
function recorder() {
  const groups: WriteCommand[][] = [];
  const singles: string[] = [];
  const gates: { open: () => void; fail: (err: unknown) => void }[] = [];
  let revision = 0;
  const gate = <T>(value: () => T): Promise<T> =>
    new Promise<T>((resolve, reject) => gates.push({ open: () => resolve(value()), fail: reject }));
  const pipeline = {
    run: (_tenant: number, commands: WriteCommand[]) => {
      groups.push(commands);
      return gate(() => commands.map((): WriteOutcome => ({ status: 'written', version: ++revision, deleted: 0 })));
    },
  } as unknown as WritePipeline;
  const strategy: WriteStrategy = {
    name: 'transaction',
    putOne: (_tenant, w) => {
      singles.push(w.key);
      return gate((): WriteOutcome => ({ status: 'written', version: ++revision, deleted: 0 }));
    },
    deleteOne: () => gate((): WriteOutcome => ({ status: 'unchanged', deleted: 0 })),
  };
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { groups, singles, gates, pipeline, strategy, settle };
}

describe('WriteQueue', () => {
  it('sends a lone write the fast way, and what waits behind it as one group, each with its own outcome', async () => {
    const r = recorder();
    const q = new WriteQueue(r.strategy, r.pipeline, { maxWaitMs: 60_000 });
    const first = q.putOne(1, write('a'), AT);
    const rest = ['b', 'c', 'd'].map((k) => q.putOne(1, write(k), AT));
    const otherTenant = q.putOne(2, write('z'), AT);
    await r.settle();
    expect(r.singles).toEqual(['a', 'z']);
    expect(q.pending).toBe(5);
    r.gates[0].open();
    expect(await first).toEqual({ status: 'written', version: 1, deleted: 0 });
    await r.settle();
    expect(r.groups.map((g) => g.length)).toEqual([3]);
    r.gates[2].open();
    expect((await Promise.all(rest)).map((o) => (o.status === 'written' ? o.version : 0))).toEqual([2, 3, 4]);
    r.gates[1].open();
    await otherTenant;
    await r.settle();
    expect(q.pending).toBe(0);
    expect(q.stats).toEqual({ groups: 3, commands: 5 });
  });

  it('fails every write of a group whose commit fails, and goes on with the next', async () => {
    const r = recorder();
    const q = new WriteQueue(r.strategy, r.pipeline, { maxWaitMs: 60_000 });
    const head = q.putOne(1, write('a'), AT);
    const group = [q.putOne(1, write('b'), AT), q.run(1, { kind: 'put', writes: [write('c')] }, AT)];
    await r.settle();
    r.gates[0].open();
    await head;
    await r.settle();
    const later = q.putOne(1, write('d'), AT);
    r.gates[1].fail(new Error('commit failed'));
    for (const outcome of await Promise.allSettled(group)) expect(outcome.status).toBe('rejected');
    await r.settle();
    r.gates[2].open();
    expect(await later).toMatchObject({ status: 'written' });
  });

  it('bounds a group by commands and bytes', async () => {
    const r = recorder();
    const q = new WriteQueue(r.strategy, r.pipeline, { maxWaitMs: 60_000 });
    const head = q.putOne(1, write('head'), AT);
    const many = Array.from({ length: MAX_GROUP_COMMANDS + 1 }, (_, i) => q.putOne(1, write(`k${i}`), AT));
    const big = q.run(1, { kind: 'put', writes: [write('big', 1024 * 1024)] }, AT);
    await r.settle();
    r.gates[0].open();
    await head;
    for (let g = 1; g <= 3; g++) {
      await r.settle();
      r.gates[g].open();
    }
    await Promise.all([...many, big]);
    // The first hundred in one transaction; the next alone, since the big batch would take the group past its
    // bytes (a lone single write goes the fast way); then the big batch.
    expect(r.groups.map((g) => g.length)).toEqual([MAX_GROUP_COMMANDS, 1]);
    expect(r.singles).toEqual(['head', `k${MAX_GROUP_COMMANDS}`]);
  });

  it('answers 503 BUSY, writing nothing, past the line length and past the longest wait', async () => {
    const r = recorder();
    // Every write that has to wait has waited too long.
    const q = new WriteQueue(r.strategy, r.pipeline, { maxWaitMs: -1 });
    const head = q.putOne(1, write('head'), AT);
    const waiting = Array.from({ length: MAX_QUEUED_PER_TENANT }, (_, i) => q.putOne(1, write(`k${i}`), AT));
    const refused = await q.putOne(1, write('over'), AT).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ status: 503, code: 'BUSY' });
    r.gates[0].open();
    expect(await head).toMatchObject({ status: 'written' });
    for (const outcome of await Promise.allSettled(waiting)) {
      expect(outcome).toMatchObject({ status: 'rejected', reason: { status: 503, code: 'BUSY' } });
    }
    expect(r.groups).toEqual([]);
  });
});
