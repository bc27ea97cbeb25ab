/**
 * How an API server reports an installed CustomResourceDefinition: its name is
 * `<plural>.<group>`, and its kinds are served once the condition `Established` is True
 * (after `NamesAccepted`), which is what `kubectl wait --for condition=established` waits for.
 * The kind path waits for this before it applies Gateway API objects; the simulated API server
 * sets the same conditions with the same reasons and messages.
 *
 * Sources: kubernetes/website `content/en/docs/reference/kubernetes-api/extend-resources/
 * custom-resource-definition-v1.md` (condition types Established, NamesAccepted, Terminating;
 * the name rule); kubernetes/kubernetes `staging/src/k8s.io/apiextensions-apiserver/pkg/
 * controller/status/naming_controller.go` (reasons and messages). Holds for
 * apiextensions.k8s.io/v1, Kubernetes 1.16 and later (the range the pinned versions span).
 */

/** The CRD API version. */
export const CRD_API_VERSION = 'apiextensions.k8s.io/v1';

/** The conditions the API server's naming controller sets on an accepted CRD. */
export const CRD_CONDITIONS = {
  namesAccepted: { type: 'NamesAccepted', reason: 'NoConflicts', message: 'no conflicts found' },
  established: {
    type: 'Established',
    reason: 'InitialNamesAccepted',
    message: 'the initial names have been accepted',
  },
} as const;

/** `<plural>.<group>`: the name a CRD must have. */
export function crdName(plural: string, group: string): string {
  return `${plural}.${group}`;
}
