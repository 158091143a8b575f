import type { RouteSpec } from '../../platform/http/routes';
import type { ChangesController } from './changes.controller';

export function changesRoutes(c: ChangesController): RouteSpec[] {
  return [
    { method: 'get', path: '/api/watch', operationId: 'watchChanges', access: { scope: 'read' }, handler: c.watch },
    { method: 'get', path: '/api/changes', operationId: 'listChanges', access: { scope: 'read' }, handler: c.page },
  ];
}
