import type { Change } from './changes.repository';

export { inRange } from '../../platform/db/prefix-range';

/**
 * A change as clients read it: `version` is the revision of the change (for a put, the object's new version and
 * its ETag), `size` and `ttl` those of the object written or removed; `value` with values asked for, on puts.
 * The stored JSON is spliced in, not parsed again.
 */
export function changeJson(change: Change, values: boolean, withRevision: boolean): string {
  const revision = withRevision ? `"revision":${change.revision},"type":"${change.type}",` : '';
  const metadata = change.metadata === null ? '' : `,"metadata":${change.metadata}`;
  const value = values && change.type === 'put' && change.value ? `,"value":${change.value}` : '';
  return (
    `{${revision}"key":${JSON.stringify(change.key)},"version":${change.revision},"ttl":${change.expiresAt ?? 0},` +
    `"size":${change.size}${metadata}${value}}`
  );
}

/**
 * One revision's changes as Server-Sent Events, one event per key, written together. Only the last carries
 * `id:` (the revision), so that a client cut off half-way through a revision resumes from the one before and
 * gets the whole revision again rather than lose its end.
 */
export function sseRevision(changes: Change[], values: boolean): string {
  return changes
    .map(
      (c, i) =>
        `${i === changes.length - 1 ? `id: ${c.revision}\n` : ''}event: ${c.type}\ndata: ${changeJson(c, values, false)}\n\n`,
    )
    .join('');
}
