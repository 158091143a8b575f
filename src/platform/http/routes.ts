import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { AppError } from '../errors';
import type { Scope } from '../principal';
import { validationError, type OperationValidators } from './openapi';
import { jsonBody } from './json-body';

export type Method = 'get' | 'head' | 'post' | 'patch' | 'delete';

/** One route: where it is, which operation of swagger.yaml describes it, who may call it, and its handler. */
export interface RouteSpec {
  method: Method;
  /** Express syntax (`/api/object/:key`); the document has the OpenAPI form (`/api/object/{key}`). */
  path: string;
  operationId: string;
  /** Who may call it: a tenant whose token has this scope, an operator with an admin key, or anyone. */
  access: { scope: Scope } | 'admin' | 'public';
  handler: (req: Request, res: Response) => Promise<void> | void;
}

/**
 * Every route under this prefix is an admin route, and the prefix is authenticated before anything is routed.
 * An admin route elsewhere (GET /metrics, where Prometheus looks) authenticates in its own chain.
 */
export const ADMIN_PREFIX = '/api/admin';

/** `/api/object/:key` and `/api/object/*key` (a parameter that may span segments) are `/api/object/{key}`. */
export function toOpenApiPath(expressPath: string): string {
  return expressPath.replace(/[:*]([A-Za-z0-9_]+)/g, '{$1}');
}

interface MountOptions {
  validators: Map<string, OperationValidators>;
  /** What every tenant route runs first: authentication, then whatever must know who is asking. */
  authenticate: (scope: Scope) => RequestHandler[];
  /** Authenticates every request under ADMIN_PREFIX, known path or not, before routing says anything; and admin routes elsewhere. */
  adminAuth: RequestHandler;
  maxBodyBytes: number;
  maxValueDepth: number;
}

/**
 * Mounts each route with only what it needs: JSON parsing and validation where it has a body, auth where it is a
 * tenant's. A known path asked with a method it does not have answers 405 with the methods it does have.
 */
export function mountRoutes(app: express.Express, routes: RouteSpec[], options: MountOptions): void {
  const parseJson = jsonBody(options.maxBodyBytes, options.maxValueDepth);
  app.use(ADMIN_PREFIX, options.adminAuth);
  const methods = new Map<string, Method[]>();
  for (const route of routes) {
    const validators = options.validators.get(route.operationId);
    if (!validators)
      throw new Error(`route ${route.method} ${route.path}: no operation ${route.operationId} in swagger.yaml`);
    const underAdminPrefix = route.path.startsWith(`${ADMIN_PREFIX}/`);
    if (underAdminPrefix && route.access !== 'admin') {
      throw new Error(`route ${route.method} ${route.path}: only admin routes live under ${ADMIN_PREFIX}`);
    }
    const chain: RequestHandler[] = [];
    if (typeof route.access === 'object') chain.push(...options.authenticate(route.access.scope));
    else if (route.access === 'admin' && !underAdminPrefix) chain.push(options.adminAuth);
    const spanning = [...route.path.matchAll(/\*([A-Za-z0-9_]+)/g)].map((m) => m[1]);
    if (spanning.length > 0) chain.push(joinSegments(spanning));
    if (validators.params) chain.push(validateParams(validators.params));
    if (validators.query) chain.push(validateQuery(validators.query));
    if (validators.body) chain.push(requireJson, ...parseJson, validateBody(validators.body));
    chain.push(route.handler as RequestHandler);
    app[route.method](route.path, ...chain);
    methods.set(route.path, [...(methods.get(route.path) ?? []), route.method]);
  }
  for (const [path, allowed] of methods) app.all(path, methodNotAllowed(allowed));
}

/** A parameter that spans segments arrives as the list of its decoded segments: it is their "/"-joined text. */
function joinSegments(names: string[]): RequestHandler {
  return (req, _res, next) => {
    const params = req.params as Record<string, string | string[]>;
    for (const name of names) if (Array.isArray(params[name])) params[name] = (params[name] as string[]).join('/');
    next();
  };
}

function methodNotAllowed(methods: Method[]): RequestHandler {
  // Express answers HEAD with a GET route; OPTIONS has no route of its own.
  const withHead = methods.includes('get') && !methods.includes('head') ? [...methods, 'head'] : methods;
  const allow = withHead.map((m) => m.toUpperCase()).join(', ');
  return (req, res, next) => {
    res.set('Allow', allow);
    next(new AppError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${req.path}; allowed: ${allow}`));
  };
}

function requireJson(req: Request, _res: Response, next: NextFunction): void {
  // req.is is null when there is no body at all: that is left to the schema, which requires one.
  if (req.is('application/json') === false) {
    return next(new AppError('UNSUPPORTED_MEDIA_TYPE', 'send the body as Content-Type: application/json'));
  }
  next();
}

function validateBody(validate: NonNullable<OperationValidators['body']>): RequestHandler {
  return (req, _res, next) => {
    if (req.body === undefined) return next(AppError.badRequest('a JSON body is required', 'VALIDATION_FAILED'));
    if (!validate(req.body)) return next(validationError(validate.errors, 'body'));
    next();
  };
}

function validateQuery(validate: NonNullable<OperationValidators['query']>): RequestHandler {
  return (req, res, next) => {
    const query = { ...(req.query as Record<string, unknown>) };
    if (!validate(query)) return next(validationError(validate.errors, 'query'));
    res.locals.query = query;
    next();
  };
}

function validateParams(validate: NonNullable<OperationValidators['params']>): RequestHandler {
  return (req, _res, next) => {
    if (!validate(req.params)) return next(validationError(validate.errors, 'path'));
    next();
  };
}
