/** Strings in [from, to) in code point order (to undefined: no upper bound). */
export interface KeyRange {
  from: string;
  to: string | undefined;
}

/** Whether `key` is in the range, comparing as the databases do: UTF-8 bytes, which is code point order. */
export function inRange(key: string, range: KeyRange): boolean {
  return compareCodePoints(key, range.from) >= 0 && (range.to === undefined || compareCodePoints(key, range.to) < 0);
}

/** Code point order (JavaScript's < compares UTF-16 code units, which puts U+E000–U+FFFF after U+10000). */
function compareCodePoints(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The strings that start with `prefix`, as a half-open range [from, to) in code point order, which is the byte
 * order of their UTF-8 form and so the order of both databases' binary comparison: an index range scan, with no
 * LIKE and no escaping. `to` is undefined when no string is past the range (a prefix of U+10FFFF only).
 */
export function prefixRange(prefix: string): KeyRange {
  const points = [...prefix].map((c) => c.codePointAt(0) as number);
  while (points.length > 0) {
    const last = points.pop() as number;
    if (last < 0x10ffff) {
      // Surrogates are not characters: the code point after U+D7FF that can be written is U+E000.
      points.push(last === 0xd7ff ? 0xe000 : last + 1);
      return { from: prefix, to: String.fromCodePoint(...points) };
    }
  }
  return { from: prefix, to: undefined };
}
