/**
 * The strings that start with `prefix`, as a half-open range [from, to) in code point order, which is the byte
 * order of their UTF-8 form and so the order of both databases' binary comparison: an index range scan, with no
 * LIKE and no escaping. `to` is undefined when no string is past the range (a prefix of U+10FFFF only).
 */
export function prefixRange(prefix: string): { from: string; to: string | undefined } {
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
