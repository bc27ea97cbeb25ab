/**
 * Which namespace labels make Istio's injector add a sidecar, per control-plane revision.
 *
 * Source: istio/istio `manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml`
 * (release-1.27 to release-1.31): the default revision's webhook (and a `default` tag's)
 * selects namespaces with `istio-injection=enabled`; a revisioned webhook selects
 * `istio.io/rev=<revision>` with `istio-injection` absent, so a namespace labelled only
 * `istio-injection=enabled` gets no sidecar from a revision without a default tag.
 * Holds for: Istio 1.6 onwards (revisions), unchanged in 1.27–1.31.
 */
export const INJECTION = {
  /** The default revision's namespace label and value. */
  namespaceLabel: 'istio-injection',
  enabled: 'enabled',
  /** A revision's namespace label; its value is the revision name. */
  revisionLabel: 'istio.io/rev',
  /** The revision name Istio gives the control plane installed without `--revision`. */
  defaultRevision: 'default',
  source:
    'istio/istio manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml',
} as const;

/**
 * The labels that turn on injection for a namespace under the given revision: the
 * `istio-injection` label for the default revision, `istio.io/rev` for any other.
 */
export function injectionLabels(revision: string | undefined): Record<string, string> {
  if (!revision || revision === INJECTION.defaultRevision) {
    return { [INJECTION.namespaceLabel]: INJECTION.enabled };
  }
  return { [INJECTION.revisionLabel]: revision };
}

/**
 * Whether a namespace's labels select it for injection by the webhook of `revision`
 * (`hasDefaultTag`: the revision also serves the default tag, as the default revision does).
 * The simulated injector decides with this, so it and the harness share one reading.
 */
export function namespaceSelectsRevision(
  labels: Readonly<Record<string, string>> | undefined,
  revision: string,
  { hasDefaultTag }: { hasDefaultTag: boolean },
): boolean {
  const injection = labels?.[INJECTION.namespaceLabel];
  const rev = labels?.[INJECTION.revisionLabel];
  if (injection === 'disabled') return false;
  if (injection === INJECTION.enabled) return hasDefaultTag;
  return rev === revision;
}
