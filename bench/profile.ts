import fs from 'node:fs';

/** The parts of a V8 .cpuprofile (written by `node --cpu-prof`) that self time needs. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface Frame {
  functionName: string;
  /** The script, relative to the project root when inside it. */
  url: string;
  selfMs: number;
  /** Share of all sampled time. */
  percent: number;
  /** Share of the time the process was not idle. */
  busyPercent: number;
}

export interface ProfileSummary {
  frames: Frame[];
  /** Self time summed by owner: an npm package, the service's own code, node core, native code. */
  owners: { owner: string; selfMs: number; busyPercent: number }[];
  totalMs: number;
  idleMs: number;
}

/** Who a frame's self time belongs to. */
function ownerOf(functionName: string, url: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('dist/src/') || url.startsWith('src/')) return 'tenantkv (src/)';
  if (url.startsWith('node:')) return 'node core (JS)';
  if (['(garbage collector)', '(program)', '(idle)', '(root)'].includes(functionName)) return functionName;
  return 'native (syscalls, C++ bindings)';
}

/**
 * Self time per function+url: each sample's time delta is charged to the frame on top of the stack; frames of
 * the same function in the same script (different call sites, different lines) are summed.
 */
export function topFrames(file: string, root: string, count = 25): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const frameOf = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const selfUs = new Map<string, { functionName: string; url: string; us: number }>();
  let totalUs = 0;
  let idleUs = 0;
  profile.samples.forEach((nodeId, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const frame = frameOf.get(nodeId);
    if (!frame || us <= 0) return;
    totalUs += us;
    if (frame.functionName === '(idle)') idleUs += us;
    const url = frame.url.replace(/^file:\/\//, '').replace(`${root}/`, '');
    const key = `${frame.functionName}\u0000${url}`;
    const entry = selfUs.get(key) ?? { functionName: frame.functionName || '(anonymous)', url, us: 0 };
    entry.us += us;
    selfUs.set(key, entry);
  });
  const busyUs = Math.max(1, totalUs - idleUs);
  const ownerUs = new Map<string, number>();
  for (const e of selfUs.values()) {
    const owner = ownerOf(e.functionName, e.url);
    ownerUs.set(owner, (ownerUs.get(owner) ?? 0) + e.us);
  }
  const owners = [...ownerUs]
    .filter(([owner]) => owner !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .map(([owner, us]) => ({ owner, selfMs: us / 1000, busyPercent: (100 * us) / busyUs }));
  const frames = [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, count)
    .map((e) => ({
      functionName: e.functionName,
      url: e.url,
      selfMs: e.us / 1000,
      percent: (100 * e.us) / Math.max(1, totalUs),
      busyPercent: e.functionName === '(idle)' ? 0 : (100 * e.us) / busyUs,
    }));
  return { frames, owners, totalMs: totalUs / 1000, idleMs: idleUs / 1000 };
}

export function formatFrames(title: string, result: ProfileSummary): string {
  const lines = [
    `${title}: ${(result.totalMs / 1000).toFixed(1)} s sampled, ${((100 * result.idleMs) / Math.max(1, result.totalMs)).toFixed(0)} % idle`,
    `  ${'self ms'.padStart(9)} ${'%all'.padStart(6)} ${'%busy'.padStart(6)}  function  (script)`,
  ];
  for (const f of result.frames) {
    lines.push(
      `  ${f.selfMs.toFixed(0).padStart(9)} ${f.percent.toFixed(1).padStart(6)} ${f.busyPercent.toFixed(1).padStart(6)}  ${f.functionName}  (${f.url || 'native'})`,
    );
  }
  lines.push(
    `  busy time by owner: ${result.owners
      .slice(0, 12)
      .map((o) => `${o.owner} ${o.busyPercent.toFixed(1)} %`)
      .join(', ')}`,
  );
  return lines.join('\n');
}
