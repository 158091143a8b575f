import { ndjsonLines, type BodyLine } from '../../../src/features/transfer/ndjson';

/** The body as it arrives, in these pieces. */
async function* pieces(...parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.isBuffer(part) ? part : Buffer.from(part, 'utf8');
}

async function linesOf(body: AsyncIterable<Buffer>, maxLineBytes = 64): Promise<unknown[]> {
  const lines: unknown[] = [];
  for await (const line of ndjsonLines(body, maxLineBytes)) lines.push(shown(line));
  return lines;
}

const shown = (line: BodyLine): unknown =>
  'text' in line ? [line.number, line.text] : [line.number, line.refused.code, line.refused.message];

describe('ndjsonLines', () => {
  it('numbers the lines from 1, blank ones included, and drops the "\\r" of CRLF', async () => {
    expect(await linesOf(pieces('{"a":1}\r\n\n{"b":2}\n'))).toEqual([
      [1, '{"a":1}'],
      [2, ''],
      [3, '{"b":2}'],
    ]);
  });

  it('gives a last line without its newline, and nothing for an empty body', async () => {
    expect(await linesOf(pieces('x\ny'))).toEqual([
      [1, 'x'],
      [2, 'y'],
    ]);
    expect(await linesOf(pieces())).toEqual([]);
  });

  it('joins a line split across pieces, a multi-byte character split in two included', async () => {
    const euro = Buffer.from('€', 'utf8');
    expect(await linesOf(pieces('{"k":"a', euro.subarray(0, 1), euro.subarray(1), '"}\n{"k"', ':2}\n'))).toEqual([
      [1, '{"k":"a€"}'],
      [2, '{"k":2}'],
    ]);
  });

  it('refuses a line over the limit without keeping it, and reads on after it', async () => {
    const long = 'x'.repeat(50);
    expect(await linesOf(pieces('ok\n', long, long, '\n', 'y'.repeat(64), '\nafter\n'))).toEqual([
      [1, 'ok'],
      [2, 'PAYLOAD_TOO_LARGE', 'the line is over 64 bytes (MAX_BODY_BYTES)'],
      [3, 'y'.repeat(64)],
      [4, 'after'],
    ]);
  });

  it('refuses a line that is not UTF-8', async () => {
    expect(await linesOf(pieces(Buffer.from([0x22, 0xff, 0x22, 0x0a]), 'fine\n'))).toEqual([
      [1, 'MALFORMED_JSON', 'the line is not UTF-8 text'],
      [2, 'fine'],
    ]);
  });
});
