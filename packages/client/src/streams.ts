import { NetworkError, TenantKvError } from './errors.js';

/** Reading and writing the service's streams with what both Node and browsers have: fetch bodies, TextDecoder. */

/** The text of a byte stream, line by line (`\n`, `\r\n` or `\r`), the last line even without its end. */
export async function* lines(body: ReadableStream<Uint8Array>, onChunk?: () => void): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onChunk?.();
      buffered += decoder.decode(value, { stream: true });
      let start = 0;
      for (let i = 0; i < buffered.length; i++) {
        const c = buffered.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        // A `\r` at the very end may be the first half of a `\r\n` still to come.
        if (c === 13 && i === buffered.length - 1) break;
        yield buffered.slice(start, i);
        if (c === 13 && buffered.charCodeAt(i + 1) === 10) i++;
        start = i + 1;
      }
      buffered = buffered.slice(start);
    }
    buffered += decoder.decode();
    if (buffered.endsWith('\r')) buffered = buffered.slice(0, -1);
    if (buffered !== '') yield buffered;
  } finally {
    // Leaving early (a break, an error) must not leave the connection open.
    await reader.cancel().catch(() => undefined);
  }
}

export interface SseMessage {
  event: string;
  data: string;
  /** The `id:` field of this message, when it had one. */
  id?: string;
}

/** Server-Sent Events, as the HTML standard parses them (comments skipped, `data:` lines joined). */
export async function* sseMessages(lineSource: AsyncIterable<string>): AsyncGenerator<SseMessage> {
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  for await (const line of lineSource) {
    if (line === '') {
      if (data.length > 0)
        yield { event: event || 'message', data: data.join('\n'), ...(id === undefined ? {} : { id }) };
      event = '';
      data = [];
      id = undefined;
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id' && !value.includes('\0')) id = value;
  }
}

/**
 * Parsed NDJSON lines of a byte stream; blank lines are skipped. A body cut off (the service fails once the stream
 * has started) throws a NetworkError rather than look like the end.
 */
export async function* ndjson<T>(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<T> {
  try {
    for await (const line of lines(body)) if (line.trim() !== '') yield JSON.parse(line) as T;
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof TenantKvError || err instanceof SyntaxError) throw err;
    throw new NetworkError(`the stream was cut off: ${(err as Error)?.message ?? String(err)}`, err);
  }
}

type Chunk = Uint8Array | string | object;

/**
 * NDJSON bytes of what `import` is given: objects become one line each, strings and byte chunks pass as they are
 * (they are NDJSON already). Read as the request is sent, so that any size streams in constant memory.
 */
export function ndjsonBody(
  source: ReadableStream<Uint8Array> | AsyncIterable<Chunk> | Iterable<Chunk>,
): ReadableStream<Uint8Array> {
  if (source instanceof ReadableStream) return source;
  const encoder = new TextEncoder();
  const iterator =
    Symbol.asyncIterator in source
      ? (source as AsyncIterable<Chunk>)[Symbol.asyncIterator]()
      : (source as Iterable<Chunk>)[Symbol.iterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await iterator.next();
      if (done) return controller.close();
      if (value instanceof Uint8Array) controller.enqueue(value);
      else if (typeof value === 'string') controller.enqueue(encoder.encode(value));
      else controller.enqueue(encoder.encode(`${JSON.stringify(value)}\n`));
    },
    async cancel(reason) {
      await iterator.return?.(reason);
    },
  });
}
