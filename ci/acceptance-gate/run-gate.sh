#!/usr/bin/env bash
# Acceptance gate: runs the conformance suites against an existing cluster (its own Istio,
# one approved external host) and turns the CLI's exit code into a gate verdict. Works in
# any CI; ci/acceptance-gate/egress-conformance-gate.yml is the GitHub Actions wrapper.
#
# Environment:
#   EGRESS_CONFORMANCE_EXTERNAL_HOST   required: the approved external host name the suites
#                                      may reach (passed as --external host:<name>)
#   EGRESS_CONFORMANCE_KUBECONFIG      kubeconfig content from a CI secret, plain or base64
#   EGRESS_CONFORMANCE_KUBECONFIG_FILE or a path to a kubeconfig (e.g. a GitLab file variable)
#   EGRESS_CONFORMANCE_CONTEXT         optional kubeconfig context
#   EGRESS_CONFORMANCE_SUITES          optional, comma-separated suite names (default: all)
#   EGRESS_CONFORMANCE_MTLS            optional: disabled | enabled | both
#
# Exit status: 0 gate passed; 1 an egress behaviour failed; 2 the environment kept the suites
# from giving a verdict (never a pass). The kubeconfig is written to a private temporary
# file, removed on exit, and never printed.
set -euo pipefail
set +x

repo_root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${repo_root}"

# GitHub renders ::error:: lines as annotations; elsewhere they read as plain text.
say() {
  local level="$1" title="$2" message="$3"
  if [[ "${GITHUB_ACTIONS:-}" == "true" ]]; then
    echo "::${level} title=${title}::${message}"
  else
    echo "${title}: ${message}"
  fi
}

usage_error() {
  say error "egress-conformance gate: usage" "$1"
  exit 2
}

external_host="${EGRESS_CONFORMANCE_EXTERNAL_HOST:-}"
[[ -n "${external_host}" ]] || usage_error "EGRESS_CONFORMANCE_EXTERNAL_HOST is not set: name the approved external host"
# A DNS name only: it is pasted into a CLI argument, and anything else is a typo or worse.
[[ "${external_host}" =~ ^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$ ]] ||
  usage_error "EGRESS_CONFORMANCE_EXTERNAL_HOST is not a DNS name: '${external_host}'"

# YAML or JSON kubeconfig: both carry a top-level apiVersion.
is_kubeconfig() { grep -qE '^[[:space:]]*"?apiVersion"?[[:space:]]*:' "$1"; }

umask 077
kubeconfig="$(mktemp "${TMPDIR:-/tmp}/egress-conformance-kubeconfig.XXXXXX")"
trap 'rm -f -- "${kubeconfig}"' EXIT

if [[ -n "${EGRESS_CONFORMANCE_KUBECONFIG:-}" ]]; then
  # printf, not echo: the content must never be interpreted, and it never reaches stdout.
  printf '%s\n' "${EGRESS_CONFORMANCE_KUBECONFIG}" > "${kubeconfig}"
  if ! is_kubeconfig "${kubeconfig}"; then
    # Many CI secret stores keep multi-line values base64-encoded.
    printf '%s' "${EGRESS_CONFORMANCE_KUBECONFIG}" | base64 -d > "${kubeconfig}" 2>/dev/null ||
      usage_error "EGRESS_CONFORMANCE_KUBECONFIG is neither a kubeconfig nor base64 of one"
  fi
elif [[ -n "${EGRESS_CONFORMANCE_KUBECONFIG_FILE:-}" ]]; then
  [[ -r "${EGRESS_CONFORMANCE_KUBECONFIG_FILE}" ]] ||
    usage_error "EGRESS_CONFORMANCE_KUBECONFIG_FILE is not a readable file"
  cp -- "${EGRESS_CONFORMANCE_KUBECONFIG_FILE}" "${kubeconfig}"
else
  usage_error "no kubeconfig: set EGRESS_CONFORMANCE_KUBECONFIG (secret content) or EGRESS_CONFORMANCE_KUBECONFIG_FILE"
fi
is_kubeconfig "${kubeconfig}" || usage_error "the kubeconfig has no apiVersion line; check the secret"

args=(--cluster existing --existing-cluster-ok --kubeconfig "${kubeconfig}"
      --external "host:${external_host}" --junit reports/junit.xml --reports reports/)
if [[ -n "${EGRESS_CONFORMANCE_CONTEXT:-}" ]]; then args+=(--context "${EGRESS_CONFORMANCE_CONTEXT}"); fi
if [[ -n "${EGRESS_CONFORMANCE_MTLS:-}" ]]; then args+=(--mtls "${EGRESS_CONFORMANCE_MTLS}"); fi
suites_csv="${EGRESS_CONFORMANCE_SUITES:-}"
read -r -a suites <<< "${suites_csv//,/ }"
# The ${x[@]+...} form keeps bash < 4.4 (macOS) quiet about an empty array under set -u.
for suite in ${suites[@]+"${suites[@]}"}; do args+=(--suite "${suite}"); done

set +e
bash "$(dirname "$0")/../run-cli.sh" "${args[@]}"
exit_code=$?
set -e

case "${exit_code}" in
  0)
    say notice "egress-conformance gate: passed" \
      "every egress behaviour held through ${external_host}; reports/summary.md has the evidence"
    ;;
  1)
    say error "egress-conformance gate: FAILED" \
      "an egress behaviour did not hold on this cluster; the gate is closed. The failing test and what it observed are in reports/junit.xml and reports/summary.md, diagnostics in reports/diagnostics/"
    ;;
  2)
    say error "egress-conformance gate: ENVIRONMENT ERROR" \
      "the suites could not give a verdict (kubeconfig, RBAC, Istio not found, external host unreachable, or a usage error), so the gate stays closed; this says nothing yet about egress behaviour. Fix the environment using the CLI output above and reports/diagnostics/, then rerun"
    ;;
  *)
    say error "egress-conformance gate: CRASHED" \
      "the CLI exited with unexpected status ${exit_code}; the gate stays closed"
    ;;
esac
exit "${exit_code}"
