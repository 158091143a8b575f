import type { Request } from 'express';
import type { Principal } from '../principal';

/** The tenant an authenticated tenant route acts for. */
export function tenantOf(req: Request): number {
  return (req.user as Principal).tenantId;
}
