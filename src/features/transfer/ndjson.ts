import { AppError } from '../../platform/errors';

/** One line of an NDJSON body, numbered from 1: its text, or why it cannot be read. */
export type BodyLine = { number: number; text: string } | { number: number; refused: AppError };

const NEWLINE = 0x0a;

/**
 * The lines of a streamed body, as they arrive: `for await` over the request reads it only as fast as the lines
 * are consumed, so the body is never held whole. A line over `maxLineBytes` is not kept (only its length is), so
 * no line takes more memory than that either. Bytes are split at "\n" before they are decoded, which is safe in
 * UTF-8 (no multi-byte sequence holds 0x0A); a "\r" before it is dropped.
 */
export async function* ndjsonLines(body: AsyncIterable<Buffer>, maxLineBytes: number): AsyncGenerator<BodyLine> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let parts: Buffer[] = [];
  let length = 0;
  let number = 0;
  const line = (): BodyLine => {
    number++;
    const bytes = Buffer.concat(parts, Math.min(length, maxLineBytes));
    const over = length > maxLineBytes;
    parts = [];
    length = 0;
    if (over) {
      const message = `the line is over ${maxLineBytes} bytes (MAX_BODY_BYTES)`;
      return { number, refused: new AppError('PAYLOAD_TOO_LARGE', message) };
    }
    try {
      return { number, text: decoder.decode(bytes).replace(/\r$/, '') };
    } catch {
      return { number, refused: AppError.badRequest('the line is not UTF-8 text', 'MALFORMED_JSON') };
    }
  };
  const keep = (piece: Buffer): void => {
    length += piece.length;
    if (length <= maxLineBytes) parts.push(piece);
    else parts = [];
  };
  for await (const chunk of body) {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      keep(chunk.subarray(start, end));
      yield line();
      start = end + 1;
    }
    if (start < chunk.length) keep(chunk.subarray(start));
  }
  if (length > 0) yield line();
}
