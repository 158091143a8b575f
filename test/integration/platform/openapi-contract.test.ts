import {
  HTTP_METHODS,
  compileValidators,
  loadOpenApi,
  type OpenApiOperation,
} from '../../../src/platform/http/openapi';
import { toOpenApiPath, type RouteSpec } from '../../../src/platform/http/routes';
import { routeTable } from '../../../src/routes';

/**
 * A stand-in for any controller, guard or dependency routeTable takes: every member is a function. routeTable
 * only needs to reference handlers, so this builds the table whatever controllers it grows.
 */
function anything(): unknown {
  const fn = (): void => undefined;
  return new Proxy(fn, {
    get: (target, prop) => (prop in target ? Reflect.get(target, prop) : anything()),
  });
}

const routes: RouteSpec[] = routeTable(
  ...(Array.from({ length: Math.max(routeTable.length, 1) }, anything) as Parameters<typeof routeTable>),
);
const { document } = loadOpenApi();

interface DocumentOperation {
  method: string;
  path: string;
  op: OpenApiOperation & { security?: Record<string, unknown>[]; responses?: Record<string, unknown> };
  pathParameters: string[];
}

type Parameter = NonNullable<OpenApiOperation['parameters']>[number];

/** A node written in place, or the one its $ref (#/components/…) points at. */
function resolved(node: unknown): unknown {
  const ref = (node as { $ref?: string }).$ref;
  if (!ref) return node;
  let target: unknown = document;
  for (const part of ref.replace(/^#\//, '').split('/')) {
    target = (target as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  if (!target) throw new Error(`swagger.yaml: unresolvable $ref ${ref}`);
  return target;
}

const deref = (p: Parameter): Parameter => resolved(p) as Parameter;

const operations: DocumentOperation[] = Object.entries(document.paths).flatMap(([path, item]) => {
  const shared = ((item as { parameters?: Parameter[] }).parameters ?? []).map(deref).filter((p) => p.in === 'path');
  return HTTP_METHODS.filter((method) => item[method] !== undefined).map((method) => {
    const op = item[method] as DocumentOperation['op'];
    const own = (op.parameters ?? []).map(deref).filter((p) => p.in === 'path');
    return { method, path, op, pathParameters: [...shared, ...own].map((p) => p.name).sort() };
  });
});

const key = (method: string, path: string) => `${method.toUpperCase()} ${path}`;
const byKey = new Map(operations.map((o) => [key(o.method, o.path), o]));
const routeByKey = new Map(routes.map((r) => [key(r.method, toOpenApiPath(r.path)), r]));

describe('routeTable() and swagger.yaml agree', () => {
  it('builds a non-empty route table and document', () => {
    expect(routes.length).toBeGreaterThan(0);
    expect(operations.length).toBeGreaterThan(0);
    for (const route of routes) expect(typeof route.handler).toBe('function');
  });

  it.each(routes.map((r) => [key(r.method, r.path), r] as const))(
    'route %s is in the document with the same operationId',
    (_name, route) => {
      const op = byKey.get(key(route.method, toOpenApiPath(route.path)));
      expect(op).toBeDefined();
      expect(op?.op.operationId).toBe(route.operationId);
    },
  );

  it.each(operations.map((o) => [key(o.method, o.path), o] as const))('operation %s has a route', (name, operation) => {
    const route = routeByKey.get(name);
    expect(route).toBeDefined();
    expect(route?.operationId).toBe(operation.op.operationId);
  });

  it('has one route per method and path, and unique operationIds on both sides', () => {
    expect(routeByKey.size).toBe(routes.length);
    expect(new Set(routes.map((r) => r.operationId)).size).toBe(routes.length);
    const ids = operations.map((o) => o.op.operationId);
    expect(ids.every((id) => typeof id === 'string' && id !== '')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each(routes.map((r) => [key(r.method, r.path), r] as const))(
    'route %s names the same path parameters as the document',
    (_name, route) => {
      const expressParams = [...route.path.matchAll(/[:*]([A-Za-z0-9_]+)/g)].map((m) => m[1]).sort();
      const op = byKey.get(key(route.method, toOpenApiPath(route.path)));
      expect(op?.pathParameters).toEqual(expressParams);
    },
  );

  it.each(routes.map((r) => [key(r.method, r.path), r] as const))(
    'route %s asks for the credentials the document says it does',
    (_name, route) => {
      const op = byKey.get(key(route.method, toOpenApiPath(route.path)));
      const schemes = (op?.op.security ?? []).flatMap((requirement) => Object.keys(requirement));
      const access = typeof route.access === 'object' ? 'tenant' : route.access;
      const documented = schemes.includes('bearerAuth') ? 'tenant' : schemes.includes('adminKey') ? 'admin' : 'public';
      expect({ route: route.path, access }).toEqual({ route: route.path, access: documented });
      // A public route says so (security: []); it must not inherit a scheme.
      if (access === 'public') expect(op?.op.security).toEqual([]);
    },
  );

  it('documents a body only on methods that carry one, and every documented body is JSON or streamed NDJSON', () => {
    for (const o of operations) {
      if (o.op.requestBody === undefined) continue;
      expect({ op: o.op.operationId, method: o.method }).toEqual({
        op: o.op.operationId,
        method: expect.stringMatching(/^(post|put|patch)$/),
      });
      // An NDJSON body is read line by line by its handler (the import), never by the JSON parser.
      expect(Object.keys(o.op.requestBody.content ?? {})).toEqual([
        expect.stringMatching(/^application\/(json|x-ndjson)$/),
      ]);
    }
  });

  it('compiles a validator for every operation, as the app does at start', () => {
    const validators = compileValidators(document);
    for (const o of operations) {
      const v = validators.get(o.op.operationId);
      expect(v).toBeDefined();
      if (o.op.requestBody?.content?.['application/json']) expect(typeof v?.body).toBe('function');
      else expect(v?.body).toBeUndefined();
      if (o.pathParameters.length > 0) expect(typeof v?.params).toBe('function');
    }
  });

  it('documents at least one success for every operation, and every error as the Error schema', () => {
    for (const o of operations) {
      const responses = Object.entries(o.op.responses ?? {});
      expect({ op: o.op.operationId, ok: responses.some(([s]) => /^2\d\d$/.test(s)) }).toEqual({
        op: o.op.operationId,
        ok: true,
      });
      const errors = responses.filter(([status]) => /^[45]\d\d$/.test(status));
      for (const [status, response] of errors) {
        const body = resolved(response) as { content?: Record<string, { schema?: { $ref?: string } }> };
        // A HEAD answer has no body, errors included.
        if (o.method === 'head') {
          expect({ op: o.op.operationId, status, content: body.content }).toEqual({
            op: o.op.operationId,
            status,
            content: undefined,
          });
          continue;
        }
        // The Error schema, or one built on it with fields of its own (a 412's current_version).
        const ref = body.content?.['application/json']?.schema?.$ref;
        const base = ref === undefined ? undefined : (resolved({ $ref: ref }) as { allOf?: { $ref?: string }[] });
        const error = ref === '#/components/schemas/Error' ? ref : base?.allOf?.[0]?.$ref;
        expect({ op: o.op.operationId, status, schema: error }).toEqual({
          op: o.op.operationId,
          status,
          schema: '#/components/schemas/Error',
        });
      }
    }
  });
});
