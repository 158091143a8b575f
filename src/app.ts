import express, { type NextFunction, type Request, type Response } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { Container } from './container';
import { AppError, toAppError } from './platform/errors';
import { compileValidators, loadOpenApi } from './platform/http/openapi';
import { mountRoutes } from './platform/http/routes';
import { accessLog } from './platform/http/access-log';

/** The HTTP face of a container: middleware, routes, docs, the one error handler. No listening, no process state. */
export function buildApp(c: Container): express.Express {
  const openapi = loadOpenApi({ maxKeyChars: c.config.maxKeyChars });
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(accessLog(c.logger, (url) => url === '/healthz'));

  mountRoutes(app, c.routes, {
    validators: compileValidators(openapi.document),
    authenticate: c.authenticate,
    adminAuth: c.adminAuth,
    maxBodyBytes: c.config.maxBodyBytes,
    maxValueDepth: c.config.maxValueDepth,
  });
  app.get('/swagger.yaml', (_req, res) => {
    res.type('application/yaml').send(openapi.text);
  });
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(openapi.document));

  app.use((req: Request, _res: Response, next: NextFunction) => {
    next(new AppError('ROUTE_NOT_FOUND', `no route for ${req.method} ${req.path}`));
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { error, fault } = toAppError(err);
    if (fault) req.log.error({ err }, 'request failed');
    if (res.headersSent) return;
    // RFC 9110 §11.6.1: a 401 names the scheme to authenticate with (RFC 6750 for bearer tokens).
    if (error.status === 401) {
      res.set('WWW-Authenticate', req.headers.authorization ? 'Bearer error="invalid_token"' : 'Bearer');
    }
    res.status(error.status).json(error.toJSON());
  });
  return app;
}
