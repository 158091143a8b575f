/** What a token may do: read, or read and write. */
export type Scope = 'read' | 'write';

/** Who a request acts for, as its verified token says (features/auth sets it on `req.user`). */
export interface Principal {
  tenantId: number;
  scopes: readonly Scope[];
  /** The tenant's token version when the token was issued: a password change or suspension bumps it. */
  tokenVersion: number;
  /** Set on API tokens, which can be revoked one by one. */
  tokenId?: string;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface User extends Principal {}
    // As passport declares it, so that code which never imports passport sees it too.
    interface Request {
      user?: User | undefined;
    }
  }
}
