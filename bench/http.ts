import http from 'node:http';
import { randomHex } from './common';

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
  writeAgent.destroy();
}

const writeAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });

/**
 * A put (the body as sent), answered with its status and the version it took; `fresh`: on a new connection (so
 * that the cluster hands it to the next worker).
 */
export function postObject(
  url: string,
  token: string,
  body: string,
  fresh: boolean,
): Promise<{ status: number; version: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: fresh ? false : writeAgent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, version: Number(String(res.headers.etag).replace(/"/g, '')) }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Registers a tenant (its name starting with `prefix`) with the self-registration ceiling, and logs it in: its token. */
export async function newTenant(url: string, prefix: string): Promise<string> {
  const account = { user_name: `${prefix}-${randomHex(4)}`, password: randomHex(12), provisioned_capacity: 1 << 30 };
  await requestExpecting(201, 'POST', `${url}/api/auth/register`, account);
  const { token } = JSON.parse(await requestExpecting(200, 'POST', `${url}/api/auth/login`, account)) as {
    token: string;
  };
  return token;
}
