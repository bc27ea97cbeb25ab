// The first request is bounded: a kubeconfig whose exec credential plugin hangs must end
// in an environment error naming the plugin, not a run that never starts.
import { describe, expect, it } from 'vitest';
import { EnvironmentError } from '../errors.ts';
import { Agent as HttpsAgent, type RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { checkReachable, connect, execTransport } from './client.ts';
import { kubeconfigText, writeKubeconfig } from '../testing/kubeconfig.ts';

describe('checkReachable', () => {
  it('names a hanging exec credential plugin within the bound', async () => {
    const kubeconfig = writeKubeconfig(
      '{server: "https://127.0.0.1:9"}',
      '{exec: {apiVersion: client.authentication.k8s.io/v1, command: sleep, args: ["3"], interactiveMode: Never}}',
    );
    const started = Date.now();
    const error = await checkReachable(connect({ kubeconfigPath: kubeconfig }), {
      timeoutMs: 300,
    }).catch((caught: unknown) => caught);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as Error).message).toMatch(
      /exec credential plugin \(sleep\) may be waiting for input or hanging/,
    );
  });
});

describe('execTransport', () => {
  function configFor(user: string): KubeConfig {
    const config = new KubeConfig();
    config.loadFromString(
      kubeconfigText('{server: "https://127.0.0.1:9", certificate-authority-data: ""}', user),
    );
    return config;
  }

  async function agentsOf(user: string): Promise<[unknown, unknown, number | undefined]> {
    const transport = execTransport(configFor(user), 1234);
    const first: RequestOptions & { handshakeTimeout?: number } = {};
    const second: RequestOptions = {};
    await transport.applyToHTTPSOptions(first);
    await transport.applyToHTTPSOptions(second);
    return [first.agent, second.agent, first.handshakeTimeout];
  }

  it('bounds the handshake and builds the TLS context of a token user once, for every exec', async () => {
    const [first, second, handshakeTimeout] = await agentsOf('{token: t}');
    expect(handshakeTimeout).toBe(1234);
    expect(first).toBeInstanceOf(HttpsAgent);
    expect(second).toBe(first);
    expect((first as HttpsAgent).options.secureContext).toBeDefined();
  });

  it('leaves the context per connection when an exec plugin may rotate the client certificate', async () => {
    const credential = JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 't' },
    });
    const [first] = await agentsOf(
      `{exec: {apiVersion: client.authentication.k8s.io/v1, command: echo, args: ['${credential}'], interactiveMode: Never}}`,
    );
    expect(first).toBeInstanceOf(HttpsAgent);
    expect((first as HttpsAgent).options.secureContext).toBeUndefined();
  });
});
