/**
 * Outside facts the product relies on, each in one place with its upstream source and the
 * versions it holds for. The simulated cluster imports these same constants where it
 * models the same thing, so a fact that is wrong is wrong in one place, with a source a
 * reviewer can open (docs/istio-facts.md lists them all).
 */

/** A structural view of a pod: only the fields these facts read. */
export interface PodShape {
  spec?: {
    containers?: readonly { name?: string }[];
    initContainers?: readonly { name?: string; restartPolicy?: string }[];
  };
}

/**
 * The name of the Envoy sidecar and gateway container.
 * Source: istio/istio `pkg/kube/inject/inject.go` (`ProxyContainerName = "istio-proxy"`).
 * Holds for: every Istio release since 1.0.
 */
export const PROXY_CONTAINER = 'istio-proxy';

/**
 * Native sidecars. `ENABLE_NATIVE_SIDECARS` defaults to `auto` since Istio 1.27
 * (istio/istio `pilot/pkg/features/pilot.go`); in `auto` the injector checks every node's
 * kubelet minor version against `minVersion := 33` (`pkg/kube/inject/webhook.go`,
 * `detectNativeSidecar`: "Native sidecars feature graduated to stable in Kubernetes 1.33")
 * and then renders `istio-proxy` into `spec.initContainers` with `restartPolicy: Always`
 * (`manifests/charts/istio-control/istio-discovery/files/injection-template.yaml`).
 * Holds for: Istio >= 1.27 with the flag left at its default; before 1.27 the proxy is a
 * regular container unless the flag was set by hand.
 */
export const NATIVE_SIDECARS = {
  istioMinimum: { major: 1, minor: 27 },
  kubernetesMinimumMinor: 33,
  restartPolicy: 'Always',
  source:
    'istio/istio pilot/pkg/features/pilot.go (ENABLE_NATIVE_SIDECARS=auto since 1.27); pkg/kube/inject/webhook.go detectNativeSidecar (minVersion 33)',
} as const;

/**
 * The proxy container of a pod in either layout: a regular container (classic sidecar,
 * gateway) or a restartable init container (native sidecar). An init container named
 * `istio-proxy` without `restartPolicy: Always` is not a running proxy.
 */
export function proxyContainer<P extends PodShape>(
  pod: P,
): { name?: string; restartPolicy?: string } | undefined {
  const regular = (pod.spec?.containers ?? []).find((c) => c.name === PROXY_CONTAINER);
  if (regular) return regular;
  return (pod.spec?.initContainers ?? []).find(
    (c) => c.name === PROXY_CONTAINER && c.restartPolicy === NATIVE_SIDECARS.restartPolicy,
  );
}

/** Whether a pod runs Istio's proxy, in the classic or the native-sidecar layout. */
export function hasProxy(pod: PodShape): boolean {
  return proxyContainer(pod) !== undefined;
}

/** Whether the pod's proxy is a native sidecar (a restartable init container). */
export function isNativeSidecar(pod: PodShape): boolean {
  return (pod.spec?.initContainers ?? []).some(
    (c) => c.name === PROXY_CONTAINER && c.restartPolicy === NATIVE_SIDECARS.restartPolicy,
  );
}

/** `1.31.1`, `v1.36.1`, `1.27-dev` → major and minor; undefined when unreadable. */
export function majorMinor(version: string): { major: number; minor: number } | undefined {
  const match = /^v?(\d+)\.(\d+)/.exec(version.trim());
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]) };
}

/**
 * Whether Istio's injector in `auto` mode renders native sidecars: Istio at least 1.27 and
 * every node's kubelet at least 1.33 (an unreadable kubelet version disables it, as
 * upstream does).
 */
export function injectsNativeSidecars(istioVersion: string, kubeletVersions: string[]): boolean {
  const istio = majorMinor(istioVersion);
  if (!istio) return false;
  const min = NATIVE_SIDECARS.istioMinimum;
  if (istio.major < min.major || (istio.major === min.major && istio.minor < min.minor)) {
    return false;
  }
  if (kubeletVersions.length === 0) return false;
  return kubeletVersions.every((version) => {
    const kubelet = majorMinor(version);
    return (
      kubelet !== undefined &&
      kubelet.major === 1 &&
      kubelet.minor >= NATIVE_SIDECARS.kubernetesMinimumMinor
    );
  });
}
