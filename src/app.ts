import express, { type NextFunction, type Request, type Response } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { Container } from './container';
import { AppError, toAppError } from './platform/errors';
import { databaseAnswer } from './platform/db/db-errors';
import { compileValidators, loadOpenApi } from './platform/http/openapi';
import { mountRoutes } from './platform/http/routes';
import { accessLog } from './platform/http/access-log';
import { cors } from './platform/http/cors';
import { budgetSpent, InFlight } from './platform/http/in-flight';
import { observeRequest } from './platform/metrics';

/** Renders an error as every error is sent: its status, its JSON body, and the headers that go with it. */
export function sendError(req: Request, res: Response, error: AppError): void {
  // RFC 9110 §11.6.1: a 401 names the scheme to authenticate with (RFC 6750 for bearer tokens).
  if (error.status === 401) {
    res.set('WWW-Authenticate', req.headers.authorization ? 'Bearer error="invalid_token"' : 'Bearer');
  }
  // RFC 9110 §10.2.3: when the client may come back (every 503 the database causes, every 429).
  if (error.retryAfterSeconds !== undefined) res.set('Retry-After', String(error.retryAfterSeconds));
  res.status(error.status).json(error.toJSON());
}

/**
 * The HTTP face of a container: middleware, routes, docs, the one error handler. No listening, no process state;
 * `inFlight` is what a server that shuts down gracefully shares with it.
 */
export function buildApp(c: Container, inFlight = new InFlight(c.config.requestTimeoutMs, sendError)): express.Express {
  const openapi = loadOpenApi({ maxKeyChars: c.config.maxKeyChars });
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(accessLog(c.logger, (url) => url === '/healthz', observeRequest));
  app.use(inFlight.track);
  if (c.config.corsOrigins.length > 0) app.use(cors(c.config.corsOrigins));

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
    // Answered 503 BUSY already when the budget ran out: the late outcome (or the failure to send it) is dropped.
    if (budgetSpent(res)) return;
    const { error, fault } = toAppError(err, (e) => databaseAnswer(c.db.dialect, e));
    if (fault) req.log.error({ err }, 'request failed');
    // The service's own trouble, worth a line of its own; a 429 is the client's doing, in the access line only.
    else if (error.retryAfterSeconds !== undefined && error.status >= 500) {
      const cause = err instanceof AppError ? err.cause : err;
      req.log.warn(
        {
          code: error.code,
          cause: (cause as Error | undefined)?.message,
          attempts: (cause as { attempts?: number } | undefined)?.attempts,
          method: req.method,
          url: req.originalUrl,
        },
        error.message,
      );
    }
    if (res.headersSent) return;
    sendError(req, res, error);
  });
  return app;
}
