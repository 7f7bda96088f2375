// A hung API server: every call of the Kubernetes adapter has a deadline and fails retryably, saying so.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PermissionDeniedError, RequestRejectedError } from '../../activities/ports';
import { KubernetesPlatform, kubeConfigFrom } from '../../integrations/kubernetesPlatform';

let server: Server;
let url: string;
beforeAll(async () => {
  // Accepts every request and never answers.
  server = createServer(() => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

it('gives up on a request the API server never answers, retryably, without the token', async () => {
  const token = 'hung-server-token-0123456789';
  const platform = new KubernetesPlatform({
    kubeConfig: kubeConfigFrom({ server: url, token }),
    resolve: () => ({ namespace: 'tyk', deployment: 'gateway-acme-tyk-gateway', container: 'gw', image: 'tyk' }),
    requestTimeoutMs: 200,
  });
  const started = Date.now();
  const err = await platform.currentVersion({ controlPlaneId: 'cp-acme', kind: 'gateway', id: 'gateway' }).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(Date.now() - started).toBeLessThan(5000);
  expect(err).toBeInstanceOf(Error);
  expect(err).not.toBeInstanceOf(PermissionDeniedError);
  expect(err).not.toBeInstanceOf(RequestRejectedError);
  expect(err!.message).toMatch(/^kubernetes: get deployments?\b.*in namespace "tyk": no answer within 200 ms$/);
  expect(err!.message).not.toContain(token);
});
