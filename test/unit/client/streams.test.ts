import { lines, ndjsonBody, sseMessages } from '../../../packages/client/src/streams';

/** The client's stream reading, on bytes split at awkward places, as a network delivers them. */
function bytes(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe('the client stream readers', () => {
  it('split lines at LF, CRLF and CR, across chunks, a CRLF split in two included', async () => {
    expect(await collect(lines(bytes('a\nb\r', '\nc\rd', 'e\r\n\nlast')))).toEqual(['a', 'b', 'c', 'de', '', 'last']);
  });

  it('decode UTF-8 characters split across chunks', async () => {
    const encoded = new TextEncoder().encode('é€\n');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const byte of encoded) controller.enqueue(new Uint8Array([byte]));
        controller.close();
      },
    });
    expect(await collect(lines(stream))).toEqual(['é€']);
  });

  it('parse Server-Sent Events as the HTML standard does: comments, multi-line data, ids, default type', async () => {
    const text =
      ': hello\nretry: 1000\n\nevent: put\ndata: {"a":\ndata:1}\n\nid: 7\nevent:delete\ndata: x\n\ndata: y\n\n';
    expect(await collect(sseMessages(lines(bytes(text))))).toEqual([
      { event: 'put', data: '{"a":\n1}' },
      { event: 'delete', data: 'x', id: '7' },
      { event: 'message', data: 'y' },
    ]);
  });

  it('write objects as NDJSON lines and pass strings and bytes through', async () => {
    const body = ndjsonBody([
      { key: 'a', value: 1 },
      '{"key":"b","value":2}\n',
      new TextEncoder().encode('{"key":"c"}\n'),
    ]);
    expect(await collect(lines(body))).toEqual(['{"key":"a","value":1}', '{"key":"b","value":2}', '{"key":"c"}']);
  });
});
