// The API server's transport faults: api-flaky fails about its share of requests with each
// of its four answers, in the same order for the same seed; api-down stops answering after
// its count, holding the connection open rather than refusing it.
import { request as httpsRequest } from 'node:https';
import { describe, expect, it } from 'vitest';
import { readSimOptions } from '../cluster.ts';
import { ObjectStore } from '../store.ts';
import { seededRandom } from './faults.ts';
import { DEFAULT_DOWN_AFTER_REQUESTS, DEFAULT_FLAKY_RATE } from './fault-options.ts';
import { startApiServer } from './server.ts';

const noExec = { exec: () => Promise.resolve({ stdout: '', stderr: '', exitCode: 0 }) };

function get(
  url: string,
  token: string,
  ca: string,
  timeoutMs = 2000,
): Promise<{ status?: number; retryAfter?: string; error?: string }> {
  return new Promise((resolve) => {
    const request = httpsRequest(`${url}/api/v1/namespaces`, {
      ca,
      headers: { authorization: `Bearer ${token}` },
      agent: false,
    });
    const timer = setTimeout(() => {
      request.destroy();
      resolve({ error: 'no answer' });
    }, timeoutMs);
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: response.statusCode,
          ...(response.headers['retry-after']
            ? { retryAfter: response.headers['retry-after'] }
            : {}),
        });
      });
    });
    request.on('error', (error) => {
      clearTimeout(timer);
      resolve({ error: error.message });
    });
    request.end();
  });
}

describe('api-flaky', () => {
  it('fails about its share of requests with 429 (Retry-After 1), 500, 503 and dropped connections, reproducibly', async () => {
    const server = await startApiServer({
      store: new ObjectStore(),
      execHandler: noExec,
      faults: { flaky: { rate: 0.3, seed: 7 } },
    });
    try {
      const outcomes: string[] = [];
      for (let index = 0; index < 80; index += 1) {
        const answer = await get(server.url, server.token, server.caPem);
        outcomes.push(
          answer.error
            ? 'dropped'
            : `${answer.status}${answer.retryAfter ? `+${answer.retryAfter}` : ''}`,
        );
      }
      const failed = outcomes.filter((outcome) => outcome !== '200');
      expect(failed.length).toBeGreaterThan(80 * 0.15);
      expect(failed.length).toBeLessThan(80 * 0.45);
      expect(new Set(failed)).toEqual(new Set(['429+1', '500', '503', 'dropped']));
      // The same seed picks the same requests.
      const random = seededRandom(7);
      const picks = Array.from({ length: 20 }, () => [random() < 0.3, random()] as const);
      expect(picks.filter(([picked]) => picked).length).toBe(
        outcomes.slice(0, 20).filter((outcome) => outcome !== '200').length,
      );
    } finally {
      await server.close();
    }
  });

  it('reads its settings from EGRESS_SIM_FAULTS and EGRESS_SIM_API_*, rejecting nonsense', () => {
    expect(readSimOptions({ EGRESS_SIM_FAULTS: 'api-flaky' }).apiFaults).toEqual({
      flaky: { rate: DEFAULT_FLAKY_RATE, seed: 1 },
    });
    expect(
      readSimOptions({
        EGRESS_SIM_FAULTS: 'api-down,gateway-bypass',
        EGRESS_SIM_API_DOWN_AFTER_MS: '500',
      }),
    ).toMatchObject({ faults: new Set(['gateway-bypass']), apiFaults: { down: { afterMs: 500 } } });
    expect(readSimOptions({ EGRESS_SIM_FAULTS: 'api-down' }).apiFaults).toEqual({
      down: { afterRequests: DEFAULT_DOWN_AFTER_REQUESTS },
    });
    expect(readSimOptions({}).apiFaults).toBeUndefined();
    expect(() =>
      readSimOptions({ EGRESS_SIM_FAULTS: 'api-flaky', EGRESS_SIM_API_FLAKY_RATE: '1.5' }),
    ).toThrow(/EGRESS_SIM_API_FLAKY_RATE must be a number from 0 to 1/);
    expect(() =>
      readSimOptions({ EGRESS_SIM_FAULTS: 'api-down', EGRESS_SIM_API_DOWN_AFTER: '-1' }),
    ).toThrow(/EGRESS_SIM_API_DOWN_AFTER must be a non-negative integer/);
  });
});

describe('api-down', () => {
  it('answers its first requests, then accepts connections and never answers', async () => {
    const server = await startApiServer({
      store: new ObjectStore(),
      execHandler: noExec,
      faults: { down: { afterRequests: 2 } },
    });
    try {
      expect((await get(server.url, server.token, server.caPem)).status).toBe(200);
      expect((await get(server.url, server.token, server.caPem)).status).toBe(200);
      expect(await get(server.url, server.token, server.caPem, 300)).toEqual({
        error: 'no answer',
      });
    } finally {
      await server.close();
    }
  });
});
