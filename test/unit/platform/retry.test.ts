import { AppError } from '../../../src/platform/errors';
import { RETRY_POLICY, retried } from '../../../src/platform/db/retry';
import { mysqlDialect } from '../../../src/platform/db/dialect/mysql';

const deadlock = (): Error => Object.assign(new Error('Deadlock found'), { code: 'ER_LOCK_DEADLOCK', errno: 1213 });

describe('retried()', () => {
  it('runs a unit again after a deadlock or certification conflict, and returns what it returns', async () => {
    let calls = 0;
    const result = await retried(mysqlDialect, async () => {
      if (++calls < 4) throw deadlock();
      return 'done';
    });
    expect(result).toBe('done');
    expect(calls).toBe(4);
  });

  it('does not run again what the database did not roll back whole, or what waited for a lock already', async () => {
    for (const err of [
      Object.assign(new Error('duplicate'), { code: 'ER_DUP_ENTRY' }),
      Object.assign(new Error('lock wait'), { code: 'ER_LOCK_WAIT_TIMEOUT' }),
      new Error('a bug'),
    ]) {
      let calls = 0;
      await expect(
        retried(mysqlDialect, async () => {
          calls++;
          throw err;
        }),
      ).rejects.toBe(err);
      expect(calls).toBe(1);
    }
  });

  it('once the budget is spent, answers 503 BUSY with Retry-After, never the driver error', async () => {
    let calls = 0;
    const started = Date.now();
    const policy = { budgetMs: 150, baseMs: 2, capMs: 20 };
    const err = await retried(
      mysqlDialect,
      async () => {
        calls++;
        throw deadlock();
      },
      policy,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'BUSY', status: 503, retryAfterSeconds: 1 });
    expect((err as AppError).cause).toMatchObject({ code: 'ER_LOCK_DEADLOCK' });
    // Never past the budget; many attempts within it, since the pauses are short and capped.
    expect(Date.now() - started).toBeLessThan(policy.budgetMs + 100);
    expect(calls).toBeGreaterThan(5);
  });

  it('pauses at random below a bound that doubles up to the cap (full jitter)', async () => {
    const pauses: number[] = [];
    const realTimeout = global.setTimeout;
    const spy = jest.spyOn(global, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      pauses.push(ms ?? 0);
      return realTimeout(fn, 0);
    }) as typeof setTimeout);
    const random = jest.spyOn(Math, 'random').mockReturnValue(0.999);
    try {
      let calls = 0;
      await retried(mysqlDialect, async () => {
        if (++calls <= 12) throw deadlock();
        return calls;
      });
    } finally {
      spy.mockRestore();
      random.mockRestore();
    }
    const bounds = pauses.map((p) => Math.round(p / 0.999));
    expect(bounds.slice(0, 7)).toEqual([2, 4, 8, 16, 32, 50, 50]);
    expect(Math.max(...bounds)).toBe(RETRY_POLICY.capMs);
  });

  it('budgets about 2 s in all', () => {
    expect(RETRY_POLICY.budgetMs).toBe(2000);
  });
});
