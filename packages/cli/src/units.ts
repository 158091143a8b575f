/**
 * Sizes and durations as operators type them. SI and IEC units are kept apart exactly (`1MB` is 1,000,000 bytes,
 * `1MiB` 1,048,576), and the arithmetic is done on integers, so `1.5KiB` is 1536 and never 1535.9999.
 */

const SI = 1000n;
const IEC = 1024n;

/** Unit symbols, lower-cased: a user who types `mb` or `gib` means MB or GiB. */
const BYTE_UNITS: Record<string, bigint> = {
  '': 1n,
  b: 1n,
  kb: SI,
  mb: SI ** 2n,
  gb: SI ** 3n,
  tb: SI ** 4n,
  pb: SI ** 5n,
  kib: IEC,
  mib: IEC ** 2n,
  gib: IEC ** 3n,
  tib: IEC ** 4n,
  pib: IEC ** 5n,
};

const SECOND_UNITS: Record<string, bigint> = { '': 1n, s: 1n, m: 60n, h: 3600n, d: 86_400n };

/** A count of `units` from text such as `10GiB` or `1.5h`: an integer, or else an error saying why. */
function parseScaled(text: string, units: Record<string, bigint>, what: string, examples: string): number {
  const match = /^\s*(\d+)(?:\.(\d+))?\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? units[match[3].toLowerCase()] : undefined;
  if (!match || unit === undefined)
    throw new RangeError(`${what} "${text}": expected a number and a unit, e.g. ${examples}`);
  const fraction = match[2] ?? '';
  const scaled = BigInt(match[1] + fraction) * unit;
  const divisor = 10n ** BigInt(fraction.length);
  if (scaled % divisor !== 0n) throw new RangeError(`${what} "${text}" is not a whole number`);
  const value = scaled / divisor;
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${what} "${text}" is too large`);
  return Number(value);
}

/** Bytes from `10GiB`, `500MB`, `1.5KiB`, `4096` or `4096B`. */
export function parseBytes(text: string): number {
  return parseScaled(text, BYTE_UNITS, 'size', '10GiB, 500MB, 1.5KiB or 4096');
}

/** Seconds from `90`, `90s`, `15m`, `2h` or `7d`. */
export function parseSeconds(text: string): number {
  return parseScaled(text, SECOND_UNITS, 'duration', '90, 15m, 2h or 7d');
}

/** Bytes for people: exact below 1 KiB, else IEC with at most one decimal (`10 MiB`, `1.5 KiB`). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const names = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes / 1024;
  let i = 0;
  while (Number(value.toFixed(1)) >= 1024 && i < names.length - 1) {
    value /= 1024;
    i++;
  }
  return `${Number(value.toFixed(1))} ${names[i]}`;
}
