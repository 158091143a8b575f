import type { RouteSpec } from '../../platform/http/routes';
import type { ObjectController } from './objects.controller';

export function objectRoutes(c: ObjectController): RouteSpec[] {
  return [
    { method: 'post', path: '/api/object', operationId: 'putObject', access: { scope: 'write' }, handler: c.put },
    { method: 'get', path: '/api/object/:key', operationId: 'getObject', access: { scope: 'read' }, handler: c.get },
    {
      method: 'delete',
      path: '/api/object/:key',
      operationId: 'deleteObject',
      access: { scope: 'write' },
      handler: c.delete,
    },
    {
      method: 'post',
      path: '/api/batch/object',
      operationId: 'putObjectBatch',
      access: { scope: 'write' },
      handler: c.putBatch,
    },
  ];
}
