import express, { type NextFunction, type Request, type Response } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { Config } from './config';
import type { Db } from './db/knex';
import type { Logger } from './logger';
import { AppError, toAppError } from './errors';
import { ObjectRepository } from './db/repositories/object-repository';
import { TenantRepository } from './db/repositories/tenant-repository';
import { AuthService } from './service/auth-service';
import { ObjectService } from './service/object-service';
import { TokenService } from './service/token-service';
import { systemClock, type Clock } from './service/clock';
import { compileValidators, loadOpenApi } from './http/openapi';
import { createTenantAuth } from './http/auth';
import { mountRoutes, routeTable } from './http/routes';
import { accessLog } from './http/access-log';
import { AuthController } from './http/controllers/auth-controller';
import { ObjectController } from './http/controllers/object-controller';
import { HealthController } from './http/controllers/health-controller';
import { AdminController } from './http/controllers/admin-controller';
import { createAdminAuth } from './http/admin-auth';
import { ApiTokenRepository } from './db/repositories/api-token-repository';
import { AdminService } from './service/admin-service';
import { TenantAccess } from './service/tenant-access';

export interface AppDeps {
  config: Config;
  db: Db;
  logger: Logger;
  jwtSecret: string;
  clock?: Clock;
  /** Shared with the server, which polls it; tests pass their own to drive its refreshes. */
  access?: TenantAccess;
}

/** Wires repositories → services → controllers → routes. No listening, no process state: tests build as many as they like. */
export function buildApp(deps: AppDeps): express.Express {
  const { config, db, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const openapi = loadOpenApi();

  const tenants = new TenantRepository(db);
  const objects = new ObjectRepository(db);
  const apiTokens = new ApiTokenRepository(db);
  const tokens = new TokenService(deps.jwtSecret, config.jwtLifetimeSeconds);
  const access = deps.access ?? new TenantAccess(config, tenants, apiTokens, clock);
  const controllers = {
    auth: new AuthController(new AuthService(config, tenants, tokens, clock)),
    objects: new ObjectController(new ObjectService(config, objects, tenants, clock)),
    health: new HealthController(db),
    admin: new AdminController(new AdminService(config, tenants, objects, apiTokens, tokens, access, clock)),
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(accessLog(logger, (url) => url === '/healthz'));

  mountRoutes(app, routeTable(controllers, createAdminAuth(config.adminApiKeys, tokens)), {
    validators: compileValidators(openapi.document),
    authenticate: createTenantAuth(tokens, access),
    maxBodyBytes: config.maxBodyBytes,
    maxValueDepth: config.maxValueDepth,
  });
  app.get('/swagger.yaml', (_req, res) => {
    res.type('application/yaml').send(openapi.text);
  });
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(openapi.document));

  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(AppError.notFound(`no route for ${req.method} ${req.path}`, 'ROUTE_NOT_FOUND'));
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { error, fault } = toAppError(err);
    if (fault) req.log.error({ err }, 'request failed');
    if (res.headersSent) return;
    res.status(error.status).json(error.toJSON());
  });
  return app;
}
