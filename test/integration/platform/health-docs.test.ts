import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { describeTargets, expectError, harness, request } from '../../support/harness';

describeTargets('health and docs', (h, target) => {
  it('GET /healthz answers 200 JSON', async () => {
    const res = await request(h.app).get('/healthz').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 JSON while the database answers', async () => {
    const res = await request(h.app).get('/readyz').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ status: 'ready' });
  });

  it('GET /readyz answers 503 JSON once the database is gone, and /healthz stays 200', async () => {
    const broken = await harness(target);
    await broken.close();
    expectError(await request(broken.app).get('/readyz'), 503, 'DATABASE_UNAVAILABLE');
    await request(broken.app).get('/healthz').expect(200);
  });

  it('GET /docs redirects to the Swagger UI, which answers 200 HTML', async () => {
    const redirect = await request(h.app).get('/docs');
    expect([301, 302, 307, 308]).toContain(redirect.status);
    expect(redirect.headers.location).toBe('/docs/');
    const page = await request(h.app).get('/docs/').expect(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('swagger-ui');
    const init = await request(h.app).get('/docs/swagger-ui-init.js').expect(200);
    expect(init.text).toContain('putObjectBatch');
    await request(h.app).get('/docs/swagger-ui-bundle.js').expect(200);
  });

  it('GET /docs followed through its redirect ends in 200', async () => {
    const res = await request(h.app).get('/docs').redirects(2);
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/<html/i);
  });

  it('GET /swagger.yaml serves the document the app validates with', async () => {
    const res = await request(h.app).get('/swagger.yaml').buffer(true).parse(textParser).expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/yaml/);
    const onDisk = fs.readFileSync(path.join(__dirname, '../../../swagger.yaml'), 'utf8');
    expect(res.body).toBe(onDisk);
    const doc = YAML.parse(res.body as string) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/auth/register', '/api/auth/login', '/api/object', '/api/object/{key}']),
    );
  });
});

function textParser(res: request.Response, done: (err: Error | null, body: unknown) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (text += chunk));
  stream.on('end', () => done(null, text));
}
