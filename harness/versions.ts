/** The pinned defaults from versions.json, the one versions file harness and ci/ share. */
import versions from '../versions.json' with { type: 'json' };

export const ISTIO_DEFAULT_VERSION: string = versions.istio.default;
export const ISTIO_SUPPORTED_VERSIONS: readonly string[] = versions.istio.supported;
export const KIND_VERSION: string = versions.kind.version;
export const KIND_NODE_IMAGE: string = versions.kind.nodeImage;
export const KIND_MINIMUM_FOR_NETWORK_POLICY: string = versions.kind.minimumForNetworkPolicy;
export const CLIENT_IMAGE: string = versions.clientImage;
/** The Gateway API release whose standard-channel CRDs the kind path installs. */
export const GATEWAY_API_VERSION: string = versions.gatewayApi.version;
