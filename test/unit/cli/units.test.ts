import { formatBytes, parseBytes, parseSeconds } from '../../../packages/cli/src/units';

describe('parseBytes: quotas as operators type them', () => {
  it.each([
    ['0', 0],
    ['4096', 4096],
    ['4096B', 4096],
    ['1KB', 1000],
    ['1kB', 1000],
    ['1KiB', 1024],
    ['1.5KiB', 1536],
    ['500MB', 500_000_000],
    ['500MiB', 500 * 1024 ** 2],
    ['10GB', 10_000_000_000],
    ['10GiB', 10 * 1024 ** 3],
    ['2TB', 2 * 1000 ** 4],
    ['2TiB', 2 * 1024 ** 4],
    ['1PB', 1000 ** 5],
    ['1PiB', 1024 ** 5],
    ['0.5MiB', 512 * 1024],
    ['1.25GB', 1_250_000_000],
    ['10 GiB', 10 * 1024 ** 3],
    [' 7mib ', 7 * 1024 ** 2],
    ['3.000KiB', 3072],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseBytes(text)).toBe(bytes);
  });

  it('keeps SI and IEC apart exactly, with integer arithmetic', () => {
    expect(parseBytes('1MB')).not.toBe(parseBytes('1MiB'));
    // 0.1 + 0.2 in floating point is 0.30000000000000004: done on integers, 0.3 GB is exact.
    expect(parseBytes('0.3GB')).toBe(300_000_000);
    expect(() => parseBytes('8191.999999999KiB')).toThrow('is not a whole number');
  });

  it.each([
    ['', 'expected a number and a unit'],
    ['ten', 'expected a number and a unit'],
    ['-1', 'expected a number and a unit'],
    ['1XB', 'expected a number and a unit'],
    ['1 G B', 'expected a number and a unit'],
    ['1e6', 'expected a number and a unit'],
    ['.5KiB', 'expected a number and a unit'],
    ['1.5B', 'is not a whole number'],
    ['0.1KiB', 'is not a whole number'],
    ['9PiB', 'is too large'],
  ])('refuses %j (%s)', (text, message) => {
    expect(() => parseBytes(text)).toThrow(message);
  });

  it('takes up to the largest safe integer', () => {
    expect(parseBytes(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => parseBytes(String(Number.MAX_SAFE_INTEGER + 1))).toThrow('is too large');
  });
});

describe('parseSeconds', () => {
  it.each([
    ['90', 90],
    ['90s', 90],
    ['15m', 900],
    ['2h', 7200],
    ['1.5h', 5400],
    ['7d', 604_800],
  ])('%s is %d seconds', (text, seconds) => {
    expect(parseSeconds(text)).toBe(seconds);
  });

  it.each(['soon', '1w', '0.5s', '-3m'])('refuses %j', (text) => {
    expect(() => parseSeconds(text)).toThrow(RangeError);
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [10 * 1024 ** 2, '10 MiB'],
    [1024 ** 2 - 1, '1 MiB'],
    [500_000_000, '476.8 MiB'],
    [10 * 1024 ** 3, '10 GiB'],
    [3 * 1024 ** 5, '3 PiB'],
  ])('%d is %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});
