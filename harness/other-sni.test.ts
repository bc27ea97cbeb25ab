// B3.3's verdict (otherSniVerdict) in every external-host mode: it must be able to fail
// where the host is a real one whose certificate never verifies for the other name.
import { describe, expect, it } from 'vitest';
import { otherSniVerdict } from './behaviours.ts';
import type { CurlResult } from './curl.ts';
import type { ExternalHost } from './providers/types.ts';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBhostleaf\n-----END CERTIFICATE-----';
const OTHER_PEM = '-----BEGIN CERTIFICATE-----\nMIIBsomethingelse\n-----END CERTIFICATE-----';

function result(overrides: Partial<CurlResult>): CurlResult {
  return {
    exitCode: 0,
    error: '',
    status: 200,
    headers: {},
    body: '',
    remoteIp: '10.96.0.21',
    remotePort: 443,
    scheme: 'https',
    sslVerifyResult: 0,
    certificates: [{ subject: 'CN = api.example.com', issuer: 'CN = Public CA', pem: PEM }],
    writeOut: {},
    ...overrides,
  };
}

// `--external host:api.example.com` (the acceptance gate): any HTTP answer counts, no
// identifying header, no PEM known in advance.
const namedHost: ExternalHost = {
  name: 'api.example.com',
  mode: 'host',
  expect: { http: { status: 0 }, https: { status: 0 } },
  insecure: false,
};
const other = 'other-sni.api.example.com';

describe('B3.3 verdict with a named host (no identifying header)', () => {
  it('fails when the other SNI is answered with the host’s own certificate', () => {
    const verdict = otherSniVerdict(
      namedHost,
      result({}),
      result({ sslVerifyResult: 62, status: 404 }),
      other,
    );
    expect(verdict).toMatch(/routes regardless of SNI .*host's own certificate/);
  });

  it('passes when the gateway drops the other SNI (reset, no certificate)', () => {
    const dropped = result({ exitCode: 35, status: 0, certificates: [], error: 'reset' });
    expect(otherSniVerdict(namedHost, result({}), dropped, other)).toBe(true);
  });

  it('passes when something else, not the host, answers the other SNI', () => {
    const elsewhere = result({
      certificates: [{ subject: 'CN = x', issuer: 'CN = y', pem: OTHER_PEM }],
    });
    expect(otherSniVerdict(namedHost, result({}), elsewhere, other)).toBe(true);
  });

  it('cannot pass when the control request through the gateway fails', () => {
    const failed = result({ exitCode: 7, status: 0, certificates: [] });
    const dropped = result({ exitCode: 35, status: 0, certificates: [] });
    expect(otherSniVerdict(namedHost, failed, dropped, other)).toMatch(/^control failed/);
  });
});

describe('B3.3 verdict with the local host (identifying header)', () => {
  const local: ExternalHost = {
    ...namedHost,
    name: 'passthrough.egress-conformance.test',
    mode: 'local',
    expect: {
      http: { status: 200 },
      https: {
        status: 200,
        header: { name: 'x-egress-conformance-host', value: 'passthrough.egress-conformance.test' },
      },
    },
    insecure: true,
  };
  const header = { 'x-egress-conformance-host': 'passthrough.egress-conformance.test' };

  it('fails when the host’s header comes back for the other SNI', () => {
    expect(
      otherSniVerdict(local, result({ headers: header }), result({ headers: header }), other),
    ).toMatch(/identifying header/);
  });
});
