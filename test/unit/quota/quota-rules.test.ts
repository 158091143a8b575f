import { ledgerAllows } from '../../../src/features/quota/quota-rules';

describe('ledgerAllows', () => {
  it('allows growth up to exactly the provisioned capacity', () => {
    expect(ledgerAllows({ provisioned: 100, utilised: 0 }, 100)).toBe(true);
    expect(ledgerAllows({ provisioned: 100, utilised: 60 }, 40)).toBe(true);
    expect(ledgerAllows({ provisioned: 100, utilised: 60 }, 41)).toBe(false);
    expect(ledgerAllows({ provisioned: 100, utilised: 0 }, 101)).toBe(false);
    expect(ledgerAllows({ provisioned: 0, utilised: 0 }, 1)).toBe(false);
  });

  it('always allows a change that frees or keeps bytes, even over a lowered quota', () => {
    expect(ledgerAllows({ provisioned: 100, utilised: 100 }, 0)).toBe(true);
    expect(ledgerAllows({ provisioned: 100, utilised: 500 }, 0)).toBe(true);
    expect(ledgerAllows({ provisioned: 100, utilised: 500 }, -1)).toBe(true);
    expect(ledgerAllows({ provisioned: 0, utilised: 10 }, -10)).toBe(true);
  });

  it('refuses any growth while over a lowered quota', () => {
    expect(ledgerAllows({ provisioned: 100, utilised: 150 }, 1)).toBe(false);
  });

  it('is exact with byte counts far above 32 bits', () => {
    const tib = 2 ** 40;
    expect(ledgerAllows({ provisioned: tib, utilised: tib - 1 }, 1)).toBe(true);
    expect(ledgerAllows({ provisioned: tib, utilised: tib - 1 }, 2)).toBe(false);
  });
});
