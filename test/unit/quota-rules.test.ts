import { ledgerAllows } from '../../src/service/quota-rules';

describe('ledgerAllows', () => {
  it('allows growth up to exactly the provisioned capacity', () => {
    expect(ledgerAllows(100, 0, 100)).toBe(true);
    expect(ledgerAllows(100, 60, 40)).toBe(true);
    expect(ledgerAllows(100, 60, 41)).toBe(false);
    expect(ledgerAllows(100, 0, 101)).toBe(false);
    expect(ledgerAllows(0, 0, 1)).toBe(false);
  });

  it('always allows a change that frees or keeps bytes, even over a lowered quota', () => {
    expect(ledgerAllows(100, 100, 0)).toBe(true);
    expect(ledgerAllows(100, 500, 0)).toBe(true);
    expect(ledgerAllows(100, 500, -1)).toBe(true);
    expect(ledgerAllows(0, 10, -10)).toBe(true);
  });

  it('refuses any growth while over a lowered quota', () => {
    expect(ledgerAllows(100, 150, 1)).toBe(false);
  });

  it('is exact with byte counts far above 32 bits', () => {
    const tib = 2 ** 40;
    expect(ledgerAllows(tib, tib - 1, 1)).toBe(true);
    expect(ledgerAllows(tib, tib - 1, 2)).toBe(false);
  });
});
