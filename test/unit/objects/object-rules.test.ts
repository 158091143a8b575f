import { LosslessNumber } from 'lossless-json';
import { AppError } from '../../../src/platform/errors';
import { checkKey, expiryOf, serializeValue } from '../../../src/features/objects/object-rules';
import { isExpired } from '../../../src/features/objects/write-model';
import { nestingExceeds, numbersIn } from '../../../src/platform/json';

const limits = { maxBytes: 16384, maxDepth: 100 };

function nestedArrays(depth: number, inner: unknown = 1): unknown {
  let v: unknown = inner;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

function nestedObjects(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

function thrown(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected an AppError, nothing was thrown');
}

describe('checkKey', () => {
  it.each(['a', 'A', 'a ', ' ', 'é', 'e\u0301', '😀'.repeat(32), 'a/b?c#d%e', '\u{10FFFF}'])('accepts %j', (key) => {
    expect(() => checkKey(key)).not.toThrow();
  });

  it.each(['\ud800', 'a\udfff', '\udc00\ud800'])('refuses the lone surrogate in %j with a 400', (key) => {
    const err = thrown(() => checkKey(key));
    expect(err.status).toBe(400);
    expect(err.code).toBe('INVALID_KEY');
  });
});

describe('nestingExceeds', () => {
  it('counts scalars as 0 deep and each array or object as one level', () => {
    for (const scalar of [null, 1, 'x', true, false]) expect(nestingExceeds(scalar, 0)).toBe(false);
    expect(nestingExceeds([], 0)).toBe(true);
    expect(nestingExceeds([], 1)).toBe(false);
    expect(nestingExceeds({}, 1)).toBe(false);
    expect(nestingExceeds([[1]], 1)).toBe(true);
    expect(nestingExceeds([[1]], 2)).toBe(false);
    expect(nestingExceeds({ a: [{ b: null }] }, 3)).toBe(false);
    expect(nestingExceeds({ a: [{ b: null }] }, 2)).toBe(true);
  });

  it('allows exactly 100 nested arrays or objects and refuses 101', () => {
    expect(nestingExceeds(nestedArrays(100), 100)).toBe(false);
    expect(nestingExceeds(nestedArrays(101), 100)).toBe(true);
    expect(nestingExceeds(nestedObjects(100), 100)).toBe(false);
    expect(nestingExceeds(nestedObjects(101), 100)).toBe(true);
  });

  it('finds the deep branch among wide shallow ones', () => {
    const wide = Array.from({ length: 1000 }, (_, i) => ({ i, list: [i] }));
    expect(nestingExceeds([...wide, nestedArrays(99)], 100)).toBe(false);
    expect(nestingExceeds([...wide, nestedArrays(100)], 100)).toBe(true);
    expect(nestingExceeds({ x: wide, y: { z: nestedObjects(100) } }, 100)).toBe(true);
  });

  it('handles 100000 levels without overflowing the stack', () => {
    expect(nestingExceeds(nestedArrays(100000), 100)).toBe(true);
    expect(nestingExceeds(nestedObjects(100000), 100)).toBe(true);
  });
});

describe('serializeValue', () => {
  it('stores compact JSON and sizes it in UTF-8 bytes', () => {
    expect(serializeValue({ a: [1, 2], b: 'x' }, limits)).toEqual({ text: '{"a":[1,2],"b":"x"}', size: 19 });
    expect(serializeValue(null, limits)).toEqual({ text: 'null', size: 4 });
    expect(serializeValue(0, limits)).toEqual({ text: '0', size: 1 });
    expect(serializeValue('', limits)).toEqual({ text: '""', size: 2 });
    expect(serializeValue('é', limits).size).toBe(4); // 2-byte character
    expect(serializeValue('€', limits).size).toBe(5); // 3-byte character
    expect(serializeValue('😀', limits).size).toBe(6); // 4-byte character (a surrogate pair in JS)
    expect(serializeValue('e\u0301', limits).size).toBe(5); // decomposed é: e + combining accent
    expect(serializeValue('a\nb', limits)).toEqual({ text: '"a\\nb"', size: 6 }); // escapes count as written
    expect(serializeValue('\u0001', limits).size).toBe(8); // "\u0001"
    expect(serializeValue({ ключ: 'значение' }, limits).size).toBe(Buffer.byteLength('{"ключ":"значение"}'));
  });

  it.each([
    ['ASCII', 'x', 1],
    ['2-byte', 'é', 2],
    ['3-byte', '€', 3],
    ['4-byte', '😀', 4],
  ])('accepts 16384 bytes and refuses 16385 with %s characters', (_name, ch, width) => {
    const count = Math.floor((16384 - 2) / width);
    const pad = 16384 - 2 - count * width; // ASCII padding up to the exact limit
    const exact = ch.repeat(count) + 'y'.repeat(pad);
    expect(serializeValue(exact, limits).size).toBe(16384);
    const err = thrown(() => serializeValue(exact + 'y', limits));
    expect(err.status).toBe(400);
    expect(err.code).toBe('VALUE_TOO_LARGE');
    expect(err.message).toContain('16385');
  });

  it('refuses a multibyte character that would straddle the limit', () => {
    // 16381 bytes of JSON plus one 4-byte emoji is 16385 bytes, though only 16382 code points.
    const value = 'x'.repeat(16379) + '😀';
    expect(Buffer.byteLength(JSON.stringify(value))).toBe(16385);
    expect(thrown(() => serializeValue(value, limits)).code).toBe('VALUE_TOO_LARGE');
  });

  it('checks the nesting before serialising, so 100000 levels is a 400, not a crash', () => {
    const err = thrown(() => serializeValue(nestedArrays(100000), limits));
    expect(err.status).toBe(400);
    expect(err.code).toBe('VALUE_TOO_DEEP');
    expect(serializeValue(nestedArrays(100), limits).size).toBe(201);
    expect(thrown(() => serializeValue(nestedArrays(101), limits)).code).toBe('VALUE_TOO_DEEP');
  });

  it('refuses a number that overflowed a double instead of storing it as null', () => {
    for (const value of [JSON.parse('1e400'), JSON.parse('[1, -1e400]'), JSON.parse('{"a":{"b":[0, 1e999]}}')]) {
      const err = thrown(() => serializeValue(value, limits));
      expect(err.status).toBe(400);
      expect(err.code).toBe('INVALID_VALUE');
    }
    expect(serializeValue(JSON.parse('[1.7976931348623157e308, 5e-324, -0]'), limits).text).toBe(
      '[1.7976931348623157e+308,5e-324,0]',
    );
  });

  it('uses the limits it is given (a batch item may be bigger than a single value)', () => {
    const big = 'x'.repeat(100000);
    expect(serializeValue(big, { maxBytes: 4194304, maxDepth: 100 }).size).toBe(100002);
    expect(thrown(() => serializeValue(big, limits)).code).toBe('VALUE_TOO_LARGE');
  });
});

describe('numbersIn', () => {
  it('finds Infinity, -Infinity and NaN at any depth as non-finite (and so unsafe)', () => {
    expect(numbersIn(Infinity)).toMatchObject({ nonFinite: true, unsafe: true });
    expect(numbersIn([[[{ x: -Infinity }]]])).toMatchObject({ nonFinite: true });
    expect(numbersIn({ a: 1, b: [2, { c: NaN }] })).toMatchObject({ nonFinite: true });
    expect(numbersIn({ a: 1, b: [2, { c: 'Infinity' }], d: null, e: 1.5e10 })).toEqual({
      nonFinite: false,
      unsafe: false,
      exact: false,
    });
    expect(numbersIn(null).unsafe).toBe(false);
    expect(numbersIn(JSON.parse('['.repeat(100000) + ']'.repeat(100000))).unsafe).toBe(false);
  });

  it('finds integers beyond 2^53 as unsafe, and LosslessNumbers as exact', () => {
    expect(numbersIn([Number.MAX_SAFE_INTEGER, 0.5, -1]).unsafe).toBe(false);
    expect(numbersIn({ a: [2 ** 53] })).toEqual({ nonFinite: false, unsafe: true, exact: false });
    expect(numbersIn({ a: new LosslessNumber('12345678901234567890') })).toMatchObject({ exact: true, unsafe: false });
  });

  it('writes LosslessNumbers back digit for digit, and counts them as leaves, not nesting', () => {
    const value = { id: new LosslessNumber('12345678901234567890'), e: new LosslessNumber('1e400') };
    expect(serializeValue(value, { maxBytes: 100, maxDepth: 1 })).toEqual({
      text: '{"id":12345678901234567890,"e":1e400}',
      size: 37,
    });
  });
});

describe('expiryOf', () => {
  const now = 1_800_000_000;

  it('maps absent and 0 to never', () => {
    expect(expiryOf(undefined, undefined, now)).toBeNull();
    expect(expiryOf(0, undefined, now)).toBeNull();
  });

  it('keeps a future ttl as the absolute expiry, however far', () => {
    expect(expiryOf(now + 1, undefined, now)).toBe(now + 1);
    expect(expiryOf(9999999999999, undefined, now)).toBe(9999999999999);
    expect(expiryOf(Number.MAX_SAFE_INTEGER, undefined, now)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it.each([
    ['now', now],
    ['the past', now - 1],
    ['1', 1],
    ['negative', -1],
    ['non-integer', now + 0.5],
    ['unsafe integer', 1e20],
    ['NaN', NaN],
    ['Infinity', Infinity],
  ])('refuses %s with a 400', (_name, ttl) => {
    const err = thrown(() => expiryOf(ttl, undefined, now));
    expect(err.status).toBe(400);
    expect(err.code).toBe('INVALID_TTL');
  });

  it('takes expires_in as seconds from now, at least 1', () => {
    expect(expiryOf(undefined, 1, now)).toBe(now + 1);
    expect(expiryOf(undefined, 86400, now)).toBe(now + 86400);
    for (const bad of [0, -1, 1.5, Number.MAX_SAFE_INTEGER]) {
      expect(thrown(() => expiryOf(undefined, bad, now)).code).toBe('INVALID_TTL');
    }
  });

  it('refuses ttl and expires_in together, even ttl 0', () => {
    expect(thrown(() => expiryOf(0, 10, now)).message).toContain('not both');
    expect(thrown(() => expiryOf(now + 5, 10, now)).code).toBe('INVALID_TTL');
  });
});

describe('isExpired', () => {
  it('treats null as never and the expiry second itself as expired', () => {
    expect(isExpired(null, 1e12)).toBe(false);
    expect(isExpired(100, 99)).toBe(false);
    expect(isExpired(100, 100)).toBe(true);
    expect(isExpired(100, 101)).toBe(true);
  });
});
