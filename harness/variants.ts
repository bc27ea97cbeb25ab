/**
 * The axes a suite can vary along, as data: the mTLS mode between sidecar and gateway, and
 * the API the configuration is written in. A case's variant is one value of each axis; the
 * reports, the JUnit properties and `--list` all print it from here.
 */
import type { ClusterTarget } from './providers/types.ts';

export type MtlsMode = 'disabled' | 'enabled';
export const MTLS_MODES: readonly MtlsMode[] = ['disabled', 'enabled'];

/** The configuration APIs a suite can be written in. */
export type ApiName = 'istio-api' | 'gateway-api';
export const API_NAMES: readonly ApiName[] = ['istio-api', 'gateway-api'];

/** A configuration API the run selected but the cluster cannot run, and why (reported as skipped). */
export interface SkippedApi {
  api: ApiName;
  reason: string;
}

/** Parses the `--api` value; undefined when it is not one of the choices. */
export function parseApiFlag(value: string): ApiName[] | undefined {
  if (value === 'both') return [...API_NAMES];
  return (API_NAMES as readonly string[]).includes(value) ? [value as ApiName] : undefined;
}

/** The usage error text for a bad `--api`. */
export function apiFlagProblem(value: string): string {
  return `unknown --api "${value}"; valid values: ${API_NAMES.join(', ')}, both`;
}

/** One value of every axis: what a case ran with. */
export interface Variant {
  mtls: MtlsMode;
  api: ApiName;
}

/** `mtls enabled, istio-api`: how a variant reads in titles, logs and reports. */
export function variantLabel(variant: Variant): string {
  return `mtls ${variant.mtls}, ${variant.api}`;
}

/** Where the gateway under test runs: the pods the evidence is read from. */
export interface GatewayUnderTest {
  namespace: string;
  /** Label selector of its pods, `key=value`. */
  selector: { key: string; value: string };
  /** Its Service's name (its pods' and events' names start with it). */
  serviceName: string;
  /** The Service the sidecars send to, as a cluster-local host name. */
  serviceHost: string;
  /**
   * The service account its pods run as: the name in its workload certificate's SPIFFE
   * identity (`istio-egressgateway-service-account` for Istio's egress chart).
   */
  serviceAccount: string;
}

/** What a variant's helpers know about the run and the suite. */
export interface VariantContext {
  target: ClusterTarget;
  suite: string;
  /** The external host of the suite. */
  host: string;
  /**
   * The namespace holding the suite's gateway configuration, once applied: where an API that
   * deploys a gateway per configuration (the Gateway API) runs it.
   */
  configNamespace?: string;
}

/**
 * One configuration API: its manifests, the values they need, how to find the gateway it
 * configures, and what to tell an on-call engineer when a behaviour fails in it. Adding an
 * API is one implementation of this interface plus its manifests (docs/adding-a-variant.md).
 */
export interface ApiVariant {
  readonly name: ApiName;
  /** The folder under `manifests/<suite>/` holding this API's form of the suite. */
  readonly manifestDir: string;
  /** Template values this API's manifests use beyond the common ones, for `namespace`. */
  templateValues(context: VariantContext, namespace: string): Record<string, string>;
  /** The files of the suite's routing through the gateway, in apply order (`mtls/` forms where the variant has them). */
  routeFiles: readonly string[];
  /** The gateway port that speaks Istio mTLS with the sidecars in the mTLS form. */
  mutualTlsPort: number;
  /** Labels the task's NetworkPolicy allows the gateway's namespace by. */
  gatewayNamespaceLabels: Readonly<Record<string, string>>;
  /** Whether the API deploys a gateway per configuration (it exists before the routes, as on the page). */
  deploysGateway: boolean;
  /** Whether a client namespace needs its own DestinationRule to route to the gateway (B4's step). */
  clientNeedsDestinationRule: boolean;
  /**
   * Why a suite's variant has no form in this API (reported as skipped with the reason), or
   * undefined when it has one.
   */
  noFormFor(suite: string, variant: Variant): string | undefined;
  /** The gateway this API's configuration routes through. */
  gatewayUnderTest(context: VariantContext): GatewayUnderTest;
  /** Hints for failures, in this API's vocabulary. */
  readonly hints: ApiHints;
}

/** What to check next, per kind of failure. */
export interface ApiHints {
  /** HTTP should leave through the gateway and did not. */
  httpThroughGateway(context: VariantContext, gateway: GatewayUnderTest): string;
  /** TLS should pass through the gateway by SNI and did not. */
  tlsThroughGateway(context: VariantContext, gateway: GatewayUnderTest): string;
  /** Before the routes exist (or on 443 with HTTP routes only) the gateway saw the request. */
  unexpectedGatewayEntry(scheme: 'http' | 'https'): string;
  /** The gateway answered plaintext on its mutual-TLS port. */
  plaintextAccepted(port: number): string;
  /** The client saw another certificate than the host's. */
  tlsTerminated(): string;
  /** Another SNI reached the host through the gateway. */
  otherSniRouted(context: VariantContext, gateway: GatewayUnderTest): string;
}
