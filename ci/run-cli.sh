#!/usr/bin/env bash
# Runs the egress-conformance CLI from a pipeline step and forwards SIGINT and SIGTERM to
# it. CI runners cancel a job by signalling the step's shell (then kill it after a grace
# period); a shell waiting on a foreground child would not pass the signal on, and the run
# would be killed with the job before it cleaned up. With this, the run cleans up what it
# created and exits 130 (SIGINT) or 143 (SIGTERM), and so does this script.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
# EGRESS_CONFORMANCE_CLI replaces the CLI (this project's tests use a stand-in).
"${EGRESS_CONFORMANCE_CLI:-${here}/bin/egress-conformance}" "$@" &
child=$!
trap 'kill -s INT "${child}" 2>/dev/null' INT
trap 'kill -s TERM "${child}" 2>/dev/null' TERM
while :; do
  wait "${child}"
  status=$?
  # `wait` also returns when a trapped signal arrives; go on waiting while the run cleans up.
  if kill -0 "${child}" 2>/dev/null; then continue; fi
  exit "${status}"
done
