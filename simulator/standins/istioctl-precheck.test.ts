// The stand-in's `istioctl x precheck`: its Kubernetes version check (checkServerVersion)
// prints what istioctl prints, coloured, from the facts the harness judges it by.
import { describe, expect, it } from 'vitest';
import { printedAnalyzerMessages } from '../../harness/facts/istioctl.ts';
import { serverVersionMessages } from './istioctl-upgrade.ts';

const TOO_OLD =
  '\x1b[1;31mError\x1b[0m [IST0142] (Cluster) The Kubernetes Version "v1.31.2" is lower than the minimum version: 1.32';

describe("the stand-in's Kubernetes version check (checkServerVersion)", () => {
  it('refuses a cluster below its own minor minimum, as istioctl prints it', () => {
    const lines = serverVersionMessages('v1.31.2', '1.31.1');
    expect(lines).toEqual([TOO_OLD]);
    expect(printedAnalyzerMessages(lines.join('\n')).map((m) => [m.level, m.code])).toEqual([
      ['Error', 'IST0142'],
    ]);
  });

  it('accepts the same cluster for istioctl 1.29 (minimum 1.30) and a cluster at the minimum', () => {
    expect(serverVersionMessages('v1.31.2', '1.29.3')).toEqual([]);
    expect(serverVersionMessages('v1.32.2', '1.31.1')).toEqual([]);
  });
});
