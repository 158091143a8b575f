/** The ledger of one tenant as its locked row says. */
export interface Ledger {
  provisioned: number;
  utilised: number;
}

/**
 * The quota rule, the only place it is written: a change that adds bytes must fit under the provisioned
 * capacity; a change that frees bytes or keeps them is always allowed, so a tenant whose quota was lowered
 * below its usage can still shrink.
 */
export function ledgerAllows(ledger: Ledger, deltaBytes: number): boolean {
  return deltaBytes <= 0 || ledger.utilised + deltaBytes <= ledger.provisioned;
}
