// `istioctl x precheck` before an upgrade: what each of its outcomes means for the run
// (ISTIOCTL_PRECHECK).
import { describe, expect, it } from 'vitest';
import { EnvironmentError } from '../errors.ts';
import { ISTIOCTL_PRECHECK } from '../facts/istioctl.ts';
import { judgePrecheck } from './precheck.ts';

const COMMAND = 'istioctl x precheck';
// As istioctl 1.31 prints it on a Kubernetes 1.31 cluster: coloured, whatever the output is.
const TOO_OLD =
  '\x1b[1;31mError\x1b[0m [IST0142] (Cluster) The Kubernetes Version "v1.31.2" is lower than the minimum version: 1.32';
const INCOMPATIBLE =
  '\x1b[33mWarning\x1b[0m [IST0169] (Service istio-system/zipkin) The configuration "meshConfig.defaultConfig.tracer" changed in release 1.21: tracing is no longer by default enabled';

describe('judging istioctl x precheck', () => {
  it('exit 0: safe, nothing to report', () => {
    expect(
      judgePrecheck({ stdout: '', stderr: ISTIOCTL_PRECHECK.noIssues, exitCode: 0 }, COMMAND),
    ).toEqual({ warnings: [] });
  });

  it('exit 1 with an Error message: not safe, an environment error naming the message and the docs', () => {
    const judge = (): unknown =>
      judgePrecheck(
        { stdout: `${TOO_OLD}\n`, stderr: ISTIOCTL_PRECHECK.issuesFound, exitCode: 1 },
        COMMAND,
      );
    expect(judge).toThrow(EnvironmentError);
    expect(judge).toThrow(
      /found the cluster not safe to upgrade: Error \[IST0142\] \(Cluster\) The Kubernetes Version "v1\.31\.2" is lower than the minimum version: 1\.32; fix that before upgrading/,
    );
  });

  it('exit 1 with Warnings only: the run goes on and reports them, without colour codes', () => {
    expect(
      judgePrecheck(
        { stdout: `${INCOMPATIBLE}\n`, stderr: ISTIOCTL_PRECHECK.issuesFound, exitCode: 1 },
        COMMAND,
      ),
    ).toEqual({ warnings: [INCOMPATIBLE.replace('\x1b[33m', '').replace('\x1b[0m', '')] });
  });

  it('exit 1 without a message: the command failed, with what it said', () => {
    expect(() =>
      judgePrecheck(
        {
          stdout: '',
          stderr: 'Error: failed to get the Kubernetes version: connection refused\n',
          exitCode: 1,
        },
        COMMAND,
      ),
    ).toThrow(/failed: exited 1 without a finding \(Error: failed to get the Kubernetes version/);
  });
});
