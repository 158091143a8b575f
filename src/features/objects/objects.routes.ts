import type { RouteSpec } from '../../platform/http/routes';
import type { ObjectController } from './objects.controller';

const read = { scope: 'read' } as const;
const write = { scope: 'write' } as const;

export function objectRoutes(c: ObjectController): RouteSpec[] {
  return [
    { method: 'post', path: '/api/object', operationId: 'putObject', access: write, handler: c.put },
    // Before `/api/object/*key`, which would take `a/history` for a key: a key ending in /history is sent %2F-encoded.
    {
      method: 'get',
      path: '/api/object/*key/history',
      operationId: 'getObjectHistory',
      access: read,
      handler: c.versions,
    },
    {
      method: 'delete',
      path: '/api/object/*key/history',
      operationId: 'deleteObjectHistory',
      access: write,
      handler: c.clearVersions,
    },
    // `*key`: a key may hold "/", sent as is or as %2F (objects.controller.ts keyOf).
    { method: 'get', path: '/api/object/*key', operationId: 'getObject', access: read, handler: c.get },
    { method: 'head', path: '/api/object/*key', operationId: 'headObject', access: read, handler: c.get },
    { method: 'delete', path: '/api/object/*key', operationId: 'deleteObject', access: write, handler: c.delete },
    { method: 'post', path: '/api/batch/object', operationId: 'putObjectBatch', access: write, handler: c.putBatch },
    { method: 'post', path: '/api/batch/get', operationId: 'getObjectBatch', access: read, handler: c.getMany },
    {
      method: 'post',
      path: '/api/batch/delete',
      operationId: 'deleteObjectBatch',
      access: write,
      handler: c.deleteMany,
    },
    { method: 'get', path: '/api/objects', operationId: 'listObjects', access: read, handler: c.list },
    { method: 'delete', path: '/api/objects', operationId: 'deleteObjects', access: write, handler: c.deletePrefix },
  ];
}
