import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

/**
 * swagger.yaml says what the service really answers: every status on every operation, each error response with
 * examples that match it, the headers that go with 401, 405 and 503. (`make lint-api` runs redocly on it too.)
 */
type Node = Record<string, unknown>;
const document = YAML.parse(fs.readFileSync(path.join(__dirname, '../../../swagger.yaml'), 'utf8')) as Node;

function deref<T = Node>(node: unknown): T {
  let current = node as Node;
  while (current && typeof current.$ref === 'string') {
    let target: unknown = document;
    for (const part of (current.$ref as string).replace(/^#\//, '').split('/')) target = (target as Node)[part];
    if (!target) throw new Error(`unresolvable ${current.$ref as string}`);
    current = target as Node;
  }
  return current as T;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const operations = Object.entries(document.paths as Record<string, Node>).flatMap(([route, item]) =>
  METHODS.filter((m) => item[m]).map((method) => {
    const op = item[method] as Node;
    return { name: `${method.toUpperCase()} ${route}`, route, op, responses: op.responses as Record<string, unknown> };
  }),
);
const NO_DATABASE = new Set(['healthz']);
const OWN_DATABASE_CHECK = new Set(['readyz']);

describe('swagger.yaml documents what the service answers', () => {
  it.each(operations.map((o) => [o.name, o] as const))('%s: 405 with Allow, on every operation', (_n, o) => {
    const res = deref(o.responses['405']);
    expect(res).toBeDefined();
    expect(Object.keys((res.headers ?? {}) as Node)).toContain('Allow');
  });

  it.each(operations.map((o) => [o.name, o] as const))('%s: 500 and 503 where the database is used', (_n, o) => {
    const id = o.op.operationId as string;
    if (NO_DATABASE.has(id)) return expect(Object.keys(o.responses).filter((s) => s >= '500')).toEqual([]);
    expect(Object.keys(o.responses)).toContain('503');
    if (OWN_DATABASE_CHECK.has(id)) return;
    expect(Object.keys(o.responses)).toContain('500');
    const unavailable = deref(o.responses['503']);
    expect(Object.keys((unavailable.headers ?? {}) as Node)).toContain('Retry-After');
  });

  it.each(operations.map((o) => [o.name, o] as const))('%s: 413 and 415 wherever a body is read', (_n, o) => {
    const statuses = Object.keys(o.responses);
    // A streamed NDJSON body has no size of its own to refuse: a line too long is reported in the answer.
    const streamed = o.op.requestBody && 'application/x-ndjson' in (deref(o.op.requestBody).content as Node);
    if (streamed) expect(statuses).toEqual(expect.arrayContaining(['400', '415']));
    else if (o.op.requestBody) expect(statuses).toEqual(expect.arrayContaining(['400', '413', '415']));
    else expect(statuses).not.toContain('415');
  });

  it.each(operations.map((o) => [o.name, o] as const))(
    '%s: 401 sends WWW-Authenticate; public is security: []',
    (_n, o) => {
      expect(Array.isArray(o.op.security)).toBe(true);
      const security = o.op.security as Node[];
      if (security.length === 0) return expect(o.responses['401']).toBeUndefined();
      expect(Object.keys((deref(o.responses['401']).headers ?? {}) as Node)).toContain('WWW-Authenticate');
      expect(Object.keys(o.responses)).toContain('403');
    },
  );

  it.each(operations.map((o) => [o.name, o] as const))(
    '%s: every error response has examples whose status_code is the status',
    (_n, o) => {
      for (const [status, response] of Object.entries(o.responses)) {
        if (Number(status) < 400) continue;
        const media = deref((deref(response).content as Node)['application/json']);
        const examples = media.example
          ? [media.example]
          : Object.values((media.examples ?? {}) as Node).map((e) => deref(e).value);
        expect({ status, examples: examples.length > 0 }).toEqual({ status, examples: true });
        for (const example of examples as Node[]) {
          // The Error fields, and those a code adds (a 412's current_version, say).
          expect(Object.keys(example)).toEqual(expect.arrayContaining(['code', 'message', 'status_code']));
          expect({ status, example: example.status_code }).toEqual({ status, example: Number(status) });
          expect(example.code).toMatch(/^[A-Z_]+$/);
        }
      }
    },
  );

  it('lets tenant routes take the bare token of the Go clients as its own scheme', () => {
    const schemes = (document.components as Node).securitySchemes as Node;
    expect(schemes.bareToken).toMatchObject({ type: 'apiKey', in: 'header', name: 'Authorization' });
    for (const o of operations) {
      const names = (o.op.security as Node[]).flatMap((r) => Object.keys(r));
      if (names.includes('bearerAuth')) expect(names).toContain('bareToken');
      if (names.includes('adminKey')) expect(names).toContain('bareAdminKey');
    }
  });

  it('uses no keyword that OpenAPI 3.0.3 lacks (contains, const, …)', () => {
    const text = JSON.stringify(document);
    for (const keyword of ['contains', 'const', 'prefixItems', '$defs', 'if', 'dependentRequired']) {
      expect({ keyword, used: text.includes(`"${keyword}":`) }).toEqual({ keyword, used: false });
    }
  });
});
