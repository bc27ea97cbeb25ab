/** The configuration APIs, by name: one implementation of ApiVariant each. */
import type { ApiName, ApiVariant } from '../variants.ts';
import { GATEWAY_API } from './gateway-api.ts';
import { ISTIO_API } from './istio-api.ts';

const API_VARIANTS: Record<ApiName, ApiVariant> = {
  'istio-api': ISTIO_API,
  'gateway-api': GATEWAY_API,
};

/** The implementation of one configuration API. */
export function apiVariant(name: ApiName): ApiVariant {
  return API_VARIANTS[name];
}
