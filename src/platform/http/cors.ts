import type { RequestHandler } from 'express';

/** Every method a route has; a preflight is answered for any path, the route then answers 404 or 405 itself. */
const METHODS = 'GET, HEAD, POST, PATCH, DELETE';
/** What the API reads beyond the CORS-safelisted headers: credentials, bodies, preconditions, the feed's resume. */
const REQUEST_HEADERS = 'Authorization, Content-Type, If-Match, If-None-Match, Last-Event-ID';
/** What a browser's script may read of an answer beyond the safelisted ones: versions, retries, rate limits. */
const EXPOSED_HEADERS = 'ETag, Retry-After, RateLimit, RateLimit-Policy, Location, X-Consistency, Age';
/** Seconds a browser may reuse a preflight's answer (Chromium caps it at 7200 anyway). */
const PREFLIGHT_MAX_AGE = 600;

/**
 * Cross-origin access for browser applications, for the origins of CORS_ORIGINS only (`*`: any). Forty lines
 * rather than the `cors` package: the policy is fixed (no cookies, one header list), and a dependency would not
 * make it shorter. A preflight (OPTIONS with Access-Control-Request-Method) from an allowed origin is answered
 * here, before authentication and before the 405 that OPTIONS gets on every route. Requests from other origins
 * pass untouched, so that a browser refuses them.
 */
export function cors(origins: readonly string[]): RequestHandler {
  const anyOrigin = origins.includes('*');
  const allowed = new Set(origins);
  return (req, res, next) => {
    // The answer depends on Origin: a cache must not hand one origin's answer to another.
    res.vary('Origin');
    const origin = req.headers.origin;
    if (origin === undefined || !(anyOrigin || allowed.has(origin))) return next();
    // No cookies are involved (tokens travel in Authorization), so `*` needs no credentials mode.
    res.set('Access-Control-Allow-Origin', anyOrigin ? '*' : origin);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      res.set({
        'Access-Control-Allow-Methods': METHODS,
        'Access-Control-Allow-Headers': REQUEST_HEADERS,
        'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE),
      });
      res.status(204).end();
      return;
    }
    res.set('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    next();
  };
}
