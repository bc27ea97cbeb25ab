/** Service defaults and ClusterIPs, assigned at admission as the API server's registry does. */
import { asArray, asRecord } from '../json.ts';
import type { AdmissionRequest, ObjectStore } from '../store/object-store.ts';
import type { KubeObject } from '../types.ts';

/** Hands out ClusterIPs from 10.96.0.20 on, skipping taken ones and .0 addresses. */
export function serviceIpAllocator(store: ObjectStore): () => string {
  let nextServiceIndex = 20;
  return (): string => {
    for (;;) {
      const index = nextServiceIndex++;
      const ip = `10.96.${(index >> 8) & 255}.${index & 255}`;
      const taken = store
        .list('Service')
        .some((service) => asRecord(service.spec).clusterIP === ip);
      if (!taken && (index & 255) !== 0) return ip;
    }
  };
}

export function defaultService(request: AdmissionRequest, allocate: () => string): KubeObject {
  const object = request.object;
  const spec = asRecord(object.spec);
  const previousSpec = asRecord(request.previous?.spec);
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  spec.internalTrafficPolicy ??= 'Cluster';
  if (spec.type !== 'ExternalName') {
    spec.clusterIP ??= previousSpec.clusterIP ?? allocate();
    spec.clusterIPs = [spec.clusterIP];
    spec.ipFamilies ??= ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
  }
  spec.ports = asArray(spec.ports).map((port) => ({
    ...port,
    protocol: port.protocol ?? 'TCP',
    targetPort: port.targetPort ?? port.port,
  }));
  object.spec = spec;
  if (request.operation === 'CREATE') object.status = { loadBalancer: {} };
  return object;
}
