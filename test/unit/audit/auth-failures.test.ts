import { AuthFailureLog, type AuditEvent, type AuditService } from '../../../src/features/audit';
import type { AdminAuthFailure } from '../../../src/features/auth';
import { createLogger } from '../../../src/platform/logger';

/** An audit service that keeps what it is asked to append, in order. */
function recorder() {
  const appended: AuditEvent[] = [];
  const audit = { record: async (event: AuditEvent) => void appended.push(event) } as unknown as AuditService;
  const log = new AuthFailureLog(audit, createLogger({ logLevel: 'silent' }));
  const counts = () => appended.map((e) => [e.actor.key, e.actor.address, e.after?.reason, e.after?.count]);
  return { appended, log, counts };
}

const failure = (actor: string | null, address = '10.0.0.1', reason: AdminAuthFailure['reason'] = 'invalid_key') => ({
  reason,
  actor,
  address,
});

describe('AuthFailureLog', () => {
  afterEach(() => jest.useRealTimers());

  it("appends a source's first failure at once and the rest of its window as one row with their count", async () => {
    const r = recorder();
    for (let i = 0; i < 50; i++) await r.log.record(failure('aaaaaaaaaaaa'));
    await r.log.record(failure(null, '10.0.0.2', 'missing_key'));
    expect(r.counts()).toEqual([
      ['aaaaaaaaaaaa', '10.0.0.1', 'invalid_key', 1],
      [null, '10.0.0.2', 'missing_key', 1],
    ]);
    await r.log.flush();
    expect(r.counts().slice(2)).toEqual([['aaaaaaaaaaaa', '10.0.0.1', 'invalid_key', 49]]);
    expect(r.appended.every((e) => e.action === 'auth.failure' && e.target === 'admin_api')).toBe(true);
    // A new window: the source's next failure is appended at once again.
    await r.log.record(failure('aaaaaaaaaaaa'));
    expect(r.counts()).toHaveLength(4);
  });

  it('counts failures past the sources a window records apart in one row per reason, without actor or address', async () => {
    const r = recorder();
    for (let i = 0; i < 25; i++) await r.log.record(failure(`key${String(i).padStart(9, '0')}`, `10.0.1.${i}`));
    for (let i = 0; i < 3; i++) await r.log.record(failure(null, `10.0.2.${i}`, 'missing_key'));
    expect(r.appended).toHaveLength(10);
    await r.log.flush();
    expect(r.counts().slice(10)).toEqual([
      [null, null, 'invalid_key', 15],
      [null, null, 'missing_key', 3],
    ]);
  });

  it('ends a window by itself: what it counted is appended without another failure', async () => {
    jest.useFakeTimers();
    const r = recorder();
    await r.log.record(failure('bbbbbbbbbbbb'));
    await r.log.record(failure('bbbbbbbbbbbb'));
    expect(r.appended).toHaveLength(1);
    await jest.runOnlyPendingTimersAsync();
    expect(r.counts()).toEqual([
      ['bbbbbbbbbbbb', '10.0.0.1', 'invalid_key', 1],
      ['bbbbbbbbbbbb', '10.0.0.1', 'invalid_key', 1],
    ]);
  });
});
