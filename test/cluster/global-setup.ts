import { execFileSync } from 'node:child_process';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { NODES, port } from './support';

/**
 * `make test-cluster` (test/cluster/run.sh) has started the cluster: compile the service as the main suite does
 * (dist-test/, for the instances started as real processes), and fail at once if a node does not answer.
 */
export default async function globalSetup(): Promise<void> {
  execFileSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', 'dist-test'],
    { cwd: path.resolve(__dirname, '../..'), stdio: 'inherit' },
  );
  for (const node of NODES) {
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: port(node), user: 'root' }).catch((err) => {
      throw new Error(`Galera node ${node} is not up on 127.0.0.1:${port(node)} (run make test-cluster): ${err}`);
    });
    const [rows] = await conn.query("SHOW STATUS LIKE 'wsrep_cluster_size'");
    await conn.end();
    const size = Number((rows as { Value: string }[])[0]?.Value);
    if (size !== 3) throw new Error(`node ${node} sees a cluster of ${size}, not 3`);
  }
}
