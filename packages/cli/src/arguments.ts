import { InvalidArgumentError } from 'commander';
import { parseBytes, parseSeconds } from './units';

/**
 * Option and argument parsers for commander: each throws InvalidArgumentError, which commander reports with the
 * option's name (exit 1).
 */

function wrap<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

export const bytesArgument = wrap(parseBytes);
export const secondsArgument = wrap(parseSeconds);

export function integerArgument(text: string): number {
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(Number(text))) {
    throw new InvalidArgumentError('expected a whole number (0 or more)');
  }
  return Number(text);
}

/**
 * A rate-limit figure, or `default` (the instance's setting, which the API names null). Kept as the word here:
 * commander turns an option value of null into an empty string.
 */
export function limitArgument(text: string): number | 'default' {
  return text === 'default' ? 'default' : integerArgument(text);
}

/** `read`, or `read,write`. */
export function scopesArgument(text: string): ('read' | 'write')[] {
  const scopes = text.split(',').map((s) => s.trim());
  for (const scope of scopes) {
    if (scope !== 'read' && scope !== 'write')
      throw new InvalidArgumentError(`unknown scope "${scope}": read or write`);
  }
  return scopes as ('read' | 'write')[];
}
