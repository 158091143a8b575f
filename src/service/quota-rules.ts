/**
 * The quota rule: a change that adds bytes must fit under the provisioned capacity; a change that frees bytes
 * or keeps them is always allowed, so a tenant whose quota was lowered below its usage can still shrink.
 */
export function ledgerAllows(provisioned: number, utilised: number, deltaBytes: number): boolean {
  return deltaBytes <= 0 || utilised + deltaBytes <= provisioned;
}
