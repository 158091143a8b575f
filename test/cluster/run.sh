#!/usr/bin/env bash
# make test-cluster: starts the 3-node Galera cluster (cluster.sh), runs the cluster tests (jest.cluster.config.js)
# with their results in .jest-cluster-results.json, and stops every node it started, whatever happened.
set -uo pipefail
cd "$(dirname "$0")/../.."
trap 'bash test/cluster/cluster.sh stop' EXIT
bash test/cluster/cluster.sh start || exit 1
rm -f .jest-cluster-results.json
npx jest -c jest.cluster.config.js --runInBand --json --outputFile=.jest-cluster-results.json "$@"
