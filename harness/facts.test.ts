import { describe, expect, it } from 'vitest';
import { hasProxy, injectsNativeSidecars, isNativeSidecar, majorMinor } from './facts.ts';

describe('the proxy container in either layout', () => {
  const classic = { spec: { containers: [{ name: 'curl' }, { name: 'istio-proxy' }] } };
  const native = {
    spec: {
      containers: [{ name: 'curl' }],
      initContainers: [{ name: 'istio-init' }, { name: 'istio-proxy', restartPolicy: 'Always' }],
    },
  };

  it('finds a classic sidecar in spec.containers', () => {
    expect(hasProxy(classic)).toBe(true);
    expect(isNativeSidecar(classic)).toBe(false);
  });

  it('finds a native sidecar: a restartable init container (Istio >= 1.27, Kubernetes >= 1.33)', () => {
    expect(hasProxy(native)).toBe(true);
    expect(isNativeSidecar(native)).toBe(true);
  });

  it('does not count an init container that runs to completion, nor a pod without proxy', () => {
    expect(hasProxy({ spec: { initContainers: [{ name: 'istio-proxy' }] } })).toBe(false);
    expect(hasProxy({ spec: { containers: [{ name: 'curl' }] } })).toBe(false);
    expect(hasProxy({})).toBe(false);
  });
});

describe('when the injector renders native sidecars', () => {
  it.each([
    ['1.31.1', ['v1.36.1'], true],
    ['1.27.0', ['v1.33.0'], true],
    ['1.26.4', ['v1.36.1'], false],
    ['1.31.1', ['v1.32.5'], false],
    ['1.31.1', ['v1.36.1', 'v1.32.5'], false],
    ['1.31.1', ['garbage'], false],
    ['1.31.1', [], false],
  ])('Istio %s on kubelets %j → %s', (istio, kubelets, expected) => {
    expect(injectsNativeSidecars(istio, kubelets)).toBe(expected);
  });

  it('reads major and minor from versions with or without v', () => {
    expect(majorMinor('v1.36.1')).toEqual({ major: 1, minor: 36 });
    expect(majorMinor('1.27-dev')).toEqual({ major: 1, minor: 27 });
    expect(majorMinor('latest')).toBeUndefined();
  });
});
