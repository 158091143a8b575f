/** What the commands print on stdout: tables for people, JSON lines for programs. */

export function printLine(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** One JSON document a line (NDJSON): what `--json` prints, one line per item. */
export function printJson(value: unknown): void {
  printLine(JSON.stringify(value));
}

/**
 * Columns padded to their widest cell, the header in capitals. Numeric columns (`right`) align right. A table is
 * printed whole, so its rows are collected first; a command that streams prints NDJSON instead.
 */
export function printTable(headers: string[], rows: string[][], right: ReadonlySet<number> = new Set()): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  printLine(line(headers.map((h) => h.toUpperCase())));
  for (const row of rows) printLine(line(row));
}

/** Name and value pairs, one a line, the values aligned: one record for people. */
export function printPairs(pairs: [string, string][]): void {
  const width = Math.max(...pairs.map(([name]) => name.length));
  for (const [name, value] of pairs) printLine(`${name.padEnd(width)}  ${value}`);
}

/** An expiry for people: `-` for never, else the UTC time and what is left (`2026-12-03 12:00:00Z (in 59m)`). */
export function formatExpiry(ttl: number, expiresIn: number): string {
  if (ttl === 0) return '-';
  const at = new Date(ttl * 1000).toISOString().replace('T', ' ').replace('.000Z', 'Z');
  return `${at} (in ${formatDuration(expiresIn)})`;
}

/** Seconds as the largest two units: `45s`, `12m30s`, `3h5m`, `2d4h`. */
function formatDuration(seconds: number): string {
  const units: [string, number][] = [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ];
  const parts: string[] = [];
  let left = Math.max(0, Math.round(seconds));
  for (const [name, size] of units) {
    if (left >= size || (parts.length === 0 && size === 1)) {
      parts.push(`${Math.floor(left / size)}${name}`);
      left %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join('');
}
