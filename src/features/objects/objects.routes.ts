import type { RouteSpec } from '../../platform/http/routes';
import type { ObjectController } from './objects.controller';

export function objectRoutes(c: ObjectController): RouteSpec[] {
  return [
    { method: 'post', path: '/api/object', operationId: 'putObject', scope: 'write', handler: c.put },
    { method: 'get', path: '/api/object/:key', operationId: 'getObject', scope: 'read', handler: c.get },
    { method: 'delete', path: '/api/object/:key', operationId: 'deleteObject', scope: 'write', handler: c.delete },
    { method: 'post', path: '/api/batch/object', operationId: 'putObjectBatch', scope: 'write', handler: c.putBatch },
  ];
}
