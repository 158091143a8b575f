import { leaseMs, whyNotEvent } from '../../../src/features/purge/purge.service';

describe('why the EVENT does not purge, as the log says it', () => {
  it('names the scheduler when it is off', () => {
    expect(whyNotEvent(false, true, 'ENABLED')).toMatch(/event scheduler is off.*SET GLOBAL event_scheduler = ON/);
  });

  it('says a SLAVESIDE_DISABLED event is a replica’s, not a missing privilege', () => {
    const message = whyNotEvent(true, true, 'SLAVESIDE_DISABLED');
    expect(message).toMatch(/SLAVESIDE_DISABLED/);
    expect(message).not.toMatch(/privilege|may not create/);
  });

  it('names the missing privileges only when the event could not be created', () => {
    expect(whyNotEvent(true, false, undefined)).toMatch(/may not create it.*EVENT/);
    expect(whyNotEvent(true, true, 'DISABLED')).toMatch(/ALTER EVENT tenantkv_purge ENABLE/);
  });
});

describe('the purge lease', () => {
  it('lasts three purge intervals, and at least 10 s', () => {
    expect(leaseMs(60)).toBe(180_000);
    expect(leaseMs(1)).toBe(10_000);
  });
});
