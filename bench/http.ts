import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

export interface HttpResponse {
  status: number;
  body: string;
}

/** A plain HTTP request on a keep-alive agent; resolves once the whole response body has arrived. */
export function request(
  method: string,
  url: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: {
          ...headers,
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${url}: no answer within 60 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Like request, but any status other than `expect` is an error that shows the response. */
export async function requestExpecting(
  expect: number,
  method: string,
  url: string,
  body?: unknown,
  headers?: Record<string, string>,
): Promise<string> {
  const res = await request(method, url, body === undefined ? undefined : JSON.stringify(body), headers);
  if (res.status !== expect) {
    throw new Error(`${method} ${url}: expected ${expect}, got ${res.status}: ${res.body.slice(0, 300)}`);
  }
  return res.body;
}

/** Frees the keep-alive sockets so that the process can exit. */
export function closeIdleSockets(): void {
  agent.destroy();
}
