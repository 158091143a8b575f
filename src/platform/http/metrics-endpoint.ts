import http from 'node:http';
import type { Logger } from '../logger';
import { AppError, busy } from '../errors';
import { METRICS_CONTENT_TYPE } from '../metrics';

export const METRICS_PATH = '/metrics';

function sendError(res: http.ServerResponse, error: AppError): void {
  const body = JSON.stringify(error.toJSON());
  const headers: http.OutgoingHttpHeaders = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  };
  if (error.retryAfterSeconds !== undefined) headers['Retry-After'] = String(error.retryAfterSeconds);
  res.writeHead(error.status, headers).end(body);
}

/**
 * The METRICS_PORT listener: GET /metrics without credentials, and nothing else, for a Prometheus that reaches
 * this private address. A bare node:http server, for it lives in the primary process, which has no app: it
 * serves no tenant, reads no body and knows no route but one. Resolves once it listens.
 */
export async function listenMetrics(
  port: number,
  host: string,
  render: () => Promise<string>,
  logger: Logger,
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== METRICS_PATH) {
      return sendError(
        res,
        new AppError('ROUTE_NOT_FOUND', `no route for ${req.method} ${path}: this port serves ${METRICS_PATH}`),
      );
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendError(
        res,
        new AppError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${METRICS_PATH}; allowed: GET, HEAD`),
      );
    }
    render().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        logger.warn({ err }, 'could not gather the metrics of every worker');
        sendError(res, busy('the metrics of every worker could not be gathered; retry shortly'));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
