import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { projectRoot } from '../config';
import { AppError } from '../errors';

export interface OpenApiOperation {
  operationId: string;
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  parameters?: OpenApiParameter[];
}

export interface OpenApiParameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: unknown;
  $ref?: string;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation | unknown>>;
  components?: { schemas?: Record<string, Record<string, unknown>> };
}

export const HTTP_METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete'] as const;

/** The limits an operator may set that the document states as its defaults. */
export interface DocumentSettings {
  maxKeyChars: number;
}

/**
 * swagger.yaml: the single source of the request schemas and of the docs. The key length is an operator's
 * setting (MAX_KEY_LENGTH): the document, its text as served and the schemas compiled from it say the one set.
 */
export function loadOpenApi(settings?: DocumentSettings): { text: string; document: OpenApiDocument } {
  const text = fs.readFileSync(path.join(projectRoot(), 'swagger.yaml'), 'utf8');
  const document = YAML.parse(text) as OpenApiDocument;
  const key = document.components?.schemas?.Key;
  if (!settings || !key || key.maxLength === settings.maxKeyChars) return { text, document };
  key.maxLength = settings.maxKeyChars;
  return { text: YAML.stringify(document), document };
}

export interface OperationValidators {
  body?: ValidateFunction;
  /** Path parameters, coerced in place from strings to the documented types. */
  params?: ValidateFunction;
  /** Query parameters, validated and coerced on a copy (Express 5 re-parses req.query on every read). */
  query?: ValidateFunction;
}

/** An ajv that knows the document as `openapi#`. */
function ajvOf(document: OpenApiDocument, coerceTypes = false): Ajv {
  // OpenAPI keywords that are not JSON Schema (example, nullable…) are annotations here, not errors.
  const ajv = new Ajv({ strict: false, allErrors: false, coerceTypes });
  addFormats(ajv);
  ajv.addSchema(document as object, 'openapi');
  return ajv;
}

/** Compiles, once at start, the body and path-parameter schemas of every operation in the document. */
export function compileValidators(document: OpenApiDocument): Map<string, OperationValidators> {
  const ajv = ajvOf(document);
  // Path and query parameters arrive as strings: this instance turns "42" into 42 where the schema says integer.
  const coercing = ajvOf(document, true);
  const validators = new Map<string, OperationValidators>();
  for (const [route, item] of Object.entries(document.paths)) {
    const shared = (item.parameters ?? []) as OpenApiOperation['parameters'];
    for (const method of HTTP_METHODS) {
      const op = item[method] as OpenApiOperation | undefined;
      if (!op) continue;
      const pointer = `openapi#/paths/${route.replace(/~/g, '~0').replace(/\//g, '~1')}/${method}`;
      const entry: OperationValidators = {};
      if (op.requestBody?.content?.['application/json']?.schema) {
        entry.body = ajv.compile({ $ref: `${pointer}/requestBody/content/application~1json/schema` });
      }
      const routePointer = pointer.slice(0, pointer.lastIndexOf('/'));
      // A parameter may be written in place or as a $ref to components/parameters: validate either.
      const parameters = [
        ...(shared ?? []).map((p, i) => ({ p, at: `${routePointer}/parameters/${i}` })),
        ...(op.parameters ?? []).map((p, i) => ({ p, at: `${pointer}/parameters/${i}` })),
      ].map(({ p, at }) => (p.$ref ? { p: resolve(document, p.$ref), at: `openapi${p.$ref}` } : { p, at }));
      for (const where of ['path', 'query'] as const) {
        const params = parameters.filter(({ p }) => p.in === where);
        if (params.length === 0) continue;
        entry[where === 'path' ? 'params' : 'query'] = coercing.compile({
          type: 'object',
          required: params.filter(({ p }) => p.required).map(({ p }) => p.name),
          properties: Object.fromEntries(params.map(({ p, at }) => [p.name, { $ref: `${at}/schema` }])),
        });
      }
      validators.set(op.operationId, entry);
    }
  }
  return validators;
}

/** One schema of the document's components, for what a route checks itself (each line of a streamed body). */
export function compileSchema(document: OpenApiDocument, name: string): ValidateFunction {
  return ajvOf(document).compile({ $ref: `openapi#/components/schemas/${name}` });
}

function resolve(document: OpenApiDocument, ref: string): OpenApiParameter {
  let node: unknown = document;
  for (const part of ref.replace(/^#\//, '').split('/')) {
    node = (node as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  if (!node) throw new Error(`swagger.yaml: unresolvable $ref ${ref}`);
  return node as OpenApiParameter;
}

/** One client-facing sentence from ajv's first error, naming the field it is about. */
export function validationError(errors: ErrorObject[] | null | undefined, what: string): AppError {
  // Under an anyOf (register, login: `user_name` or its alias `name`) ajv lists each branch's first error: the
  // one about a field that was sent ({"name": 42} → "name: must be string") says more than a missing alias.
  const e = errors?.find((x) => x.instancePath !== '') ?? errors?.[0];
  if (!e) return AppError.badRequest(`invalid ${what}`, 'VALIDATION_FAILED');
  const field = e.instancePath
    ? e.instancePath.slice(1).replace(/\//g, '.')
    : e.keyword === 'required'
      ? String((e.params as { missingProperty?: string }).missingProperty)
      : what;
  // `not` carries rules OpenAPI 3.0 has no keyword for (scopes: ["write"] alone); ajv's "must NOT be valid" says nothing.
  const message =
    e.keyword === 'required' ? 'is required' : e.keyword === 'not' ? 'is not allowed' : (e.message ?? 'is invalid');
  return AppError.badRequest(`${field}: ${message}`, 'VALIDATION_FAILED');
}
