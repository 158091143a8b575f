import { isLosslessNumber } from 'lossless-json';

/** Facts about parsed JSON values that JSON.parse and JSON.stringify do not tell. */

/** Nesting of arrays and objects: a scalar is 0 deep, `[]` is 1, `[[1]]` is 2. Stops looking past `limit`. */
export function nestingExceeds(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== 'object' || isLosslessNumber(node)) continue;
    if (depth + 1 > limit) return true;
    const children = Array.isArray(node) ? node : Object.values(node as Record<string, unknown>);
    for (const child of children) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

/**
 * The numbers a value holds that JSON.stringify cannot write back as sent: `nonFinite`, a number that is not
 * finite (a literal that overflowed a double parses to Infinity, which JSON.stringify writes as null);
 * `unsafe`, that or an integer beyond 2^53, whose digits a double has lost; `exact`, a LosslessNumber, which
 * keeps the digits as sent (see http/json-body).
 */
export function numbersIn(value: unknown): { nonFinite: boolean; unsafe: boolean; exact: boolean } {
  const found = { nonFinite: false, unsafe: false, exact: false };
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) found.nonFinite = found.unsafe = true;
      else if (Number.isInteger(node) && !Number.isSafeInteger(node)) found.unsafe = true;
    } else if (isLosslessNumber(node)) {
      found.exact = true;
    } else if (node !== null && typeof node === 'object') {
      for (const child of Array.isArray(node) ? node : Object.values(node as Record<string, unknown>)) {
        if (typeof child === 'number' || (child !== null && typeof child === 'object')) stack.push(child);
      }
    }
  }
  return found;
}
