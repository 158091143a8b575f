import type { components, paths } from '../../../packages/client/src/api';

/**
 * A small client typed only by what openapi-typescript generates from swagger.yaml (api.d.ts), the way a
 * tenant's application would use it. test/integration/openapi-client.test.ts type-checks it (and typos against
 * it) with the TypeScript compiler, then runs it against the live app.
 */
type Json<T> = T extends { content: { 'application/json': infer Body } } ? Body : never;

export type RegisterBody = Json<paths['/api/auth/register']['post']['requestBody']>;
export type RegisterAnswer = Json<paths['/api/auth/register']['post']['responses']['201']>;
export type LoginBody = Json<paths['/api/auth/login']['post']['requestBody']>;
export type LoginAnswer = Json<paths['/api/auth/login']['post']['responses']['200']>;
export type PutBody = Json<paths['/api/object']['post']['requestBody']>;
export type ObjectAnswer = Json<paths['/api/object/{key}']['get']['responses']['200']>;
export type BatchBody = Json<paths['/api/batch/object']['post']['requestBody']>;
export type QuotaAnswer = Json<paths['/api/quota']['get']['responses']['200']>;
export type CreateTokenBody = Json<paths['/api/admin/tenants/{id}/tokens']['post']['requestBody']>;
export type ErrorBody = components['schemas']['Error'];

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(`${status} ${body.code}: ${body.message}`);
  }
}

export class TenantKvClient {
  private token: string | undefined;

  constructor(private readonly baseUrl: string) {}

  private async call(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.token !== undefined) headers.Authorization = `Bearer ${this.token}`;
    const res = await fetch(this.baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status >= 400) throw new ApiError(res.status, (await res.json()) as ErrorBody);
    return res;
  }

  async register(body: RegisterBody): Promise<RegisterAnswer> {
    return (await (await this.call('POST', '/api/auth/register', body)).json()) as RegisterAnswer;
  }

  async login(body: LoginBody): Promise<LoginAnswer> {
    const answer = (await (await this.call('POST', '/api/auth/login', body)).json()) as LoginAnswer;
    this.token = answer.token;
    return answer;
  }

  async put(body: PutBody): Promise<void> {
    await this.call('POST', '/api/object', body);
  }

  async get(key: string): Promise<ObjectAnswer> {
    return (await (await this.call('GET', `/api/object/${encodeURIComponent(key)}`)).json()) as ObjectAnswer;
  }

  async batch(items: BatchBody): Promise<void> {
    await this.call('POST', '/api/batch/object', items);
  }

  async quota(): Promise<QuotaAnswer> {
    return (await (await this.call('GET', '/api/quota')).json()) as QuotaAnswer;
  }
}

/** Registers, logs in, writes, reads, batches and reads the quota: what the test runs against the app. */
export async function walkThrough(
  baseUrl: string,
  userName: string,
): Promise<{ registered: RegisterAnswer; login: LoginAnswer; read: ObjectAnswer; quota: QuotaAnswer }> {
  const client = new TenantKvClient(baseUrl);
  const registered = await client.register({
    user_name: userName,
    password: 'typed client',
    provisioned_capacity: 1000,
  });
  const login = await client.login({ user_name: userName, password: 'typed client' });
  await client.put({ key: 'user:42', value: { name: 'Ada', langs: ['en', 'fr'] }, ttl: 0 });
  const read = await client.get('user:42');
  await client.batch([
    { key: 'a', value: 1 },
    { key: 'b', value: { nested: true }, ttl: Math.floor(Date.now() / 1000) + 3600 },
  ]);
  const quota = await client.quota();
  return { registered, login, read, quota };
}
