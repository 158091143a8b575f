import type { Request, Response } from 'express';
import type { AuditActor } from '../audit';
import type {
  AdminService,
  CreateTenantRequest,
  CreateTokenRequest,
  ListTenantsQuery,
  UpdateTenantRequest,
} from './admin.service';

/**
 * HTTP in, HTTP out for operators. Every action is logged once, with the admin key's fingerprint, and recorded
 * in the audit log by the service, with the fingerprint and the client's address.
 */
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  createTenant = async (req: Request, res: Response): Promise<void> => {
    const tenant = await this.admin.createTenant(actorOf(req, res), req.body as CreateTenantRequest);
    logAction(req, res, 'tenant.create', tenant.id);
    res.status(201).json(tenant);
  };

  listTenants = async (_req: Request, res: Response): Promise<void> => {
    res.status(200).json(await this.admin.listTenants(res.locals.query as ListTenantsQuery));
  };

  getTenant = async (req: Request, res: Response): Promise<void> => {
    res.status(200).json(await this.admin.getTenant(tenantIdOf(req)));
  };

  updateTenant = async (req: Request, res: Response): Promise<void> => {
    const body = req.body as UpdateTenantRequest;
    const tenant = await this.admin.updateTenant(actorOf(req, res), tenantIdOf(req), body);
    logAction(req, res, 'tenant.update', tenant.id, {
      fields: Object.keys(body),
      ...(body.suspended === undefined ? {} : { suspended: body.suspended }),
    });
    res.status(200).json(tenant);
  };

  deleteTenant = async (req: Request, res: Response): Promise<void> => {
    await this.admin.deleteTenant(actorOf(req, res), tenantIdOf(req));
    logAction(req, res, 'tenant.delete', tenantIdOf(req));
    res.status(204).end();
  };

  createToken = async (req: Request, res: Response): Promise<void> => {
    const created = await this.admin.createToken(actorOf(req, res), tenantIdOf(req), req.body as CreateTokenRequest);
    logAction(req, res, 'token.create', tenantIdOf(req), { token_id: created.id, scopes: created.scopes });
    res.status(201).json(created);
  };

  listTokens = async (req: Request, res: Response): Promise<void> => {
    res.status(200).json(await this.admin.listTokens(tenantIdOf(req)));
  };

  revokeToken = async (req: Request, res: Response): Promise<void> => {
    await this.admin.revokeToken(actorOf(req, res), tenantIdOf(req), req.params.tokenId as string);
    logAction(req, res, 'token.revoke', tenantIdOf(req), { token_id: req.params.tokenId });
    res.status(204).end();
  };
}

function tenantIdOf(req: Request): number {
  return Number(req.params.id);
}

/** Who is acting: the fingerprint the admin auth put in res.locals (the key itself never leaves it). */
function actorOf(req: Request, res: Response): AuditActor {
  return { key: res.locals.adminKey as string, address: req.ip ?? null };
}

function logAction(req: Request, res: Response, action: string, tenantId: number, extra: object = {}): void {
  req.log.info({ admin: { action, tenant_id: tenantId, key: res.locals.adminKey, ...extra } }, `admin ${action}`);
}
