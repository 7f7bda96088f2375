import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpHealthProbe, parseHealthBody } from '../../../integrations/httpHealth';
import type { ComponentRef } from '../../../domain/model';
import { closedPort } from './fixtures';

const gateway: ComponentRef = { controlPlaneId: 'cp-acme', kind: 'gateway', id: 'gateway' };
const time = '2026-05-01T10:00:00Z';

/** path → [http status, body]; `/slow` never answers in time. */
const routes: Record<string, [number, string]> = {
  '/pass': [
    200,
    JSON.stringify({
      status: 'pass',
      version: 'v5.8.2',
      description: 'Tyk GW',
      details: { redis: { status: 'pass', componentType: 'datastore', time } },
    }),
  ],
  '/warn': [
    200,
    JSON.stringify({
      status: 'warn',
      version: 'v5.8.2',
      description: 'Tyk GW',
      details: {
        redis: { status: 'pass', componentType: 'datastore', time },
        rpc: { status: 'fail', componentType: 'system', time, output: 'Could not connect to RPC' },
      },
    }),
  ],
  '/fail': [
    503,
    JSON.stringify({
      status: 'fail',
      version: 'v5.3.4',
      description: 'Tyk GW',
      details: { redis: { status: 'fail', componentType: 'datastore', time, output: 'dial tcp: connection refused' } },
    }),
  ],
  '/old-fail-200': [200, JSON.stringify({ status: 'fail', version: 'v4.0.0', details: { redis: { status: 'fail' } } })],
  '/garbage': [200, '<html>hello</html>'],
  '/wrong-json': [200, JSON.stringify({ status: 'ok', message: 'Hello Tiki' })],
  '/empty-503': [503, ''],
};

let server: Server;
let base: string;
let closedPortUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/slow') {
      setTimeout(() => res.writeHead(200).end('{"status":"pass"}'), 2000).unref();
      return;
    }
    const route = routes[req.url ?? ''];
    if (!route) return void res.writeHead(404).end();
    res.writeHead(route[0], { 'content-type': 'application/json' }).end(route[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closedPortUrl = `http://127.0.0.1:${await closedPort()}/hello`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const probeAt = (path: string, timeoutMs = 1000) =>
  new HttpHealthProbe(() => `${base}${path}`, { timeoutMs }).probe(gateway);

describe('HttpHealthProbe', () => {
  it('reports pass with the version normalized and the checks', async () => {
    const before = Date.now();
    const report = await probeAt('/pass');
    expect(report).toMatchObject({
      component: gateway,
      status: 'pass',
      version: '5.8.2',
      httpStatus: 200,
      details: { redis: { status: 'pass' } },
    });
    expect(report.error).toBeUndefined();
    expect(Date.parse(report.at)).toBeGreaterThanOrEqual(before - 1);
  });

  it('reports warn with the failing check and its output', async () => {
    const report = await probeAt('/warn');
    expect(report.status).toBe('warn');
    expect(report.details).toEqual({
      redis: { status: 'pass' },
      rpc: { status: 'fail', output: 'Could not connect to RPC' },
    });
  });

  it('parses the body of a 503 (current Tyk answers fail with 503)', async () => {
    const report = await probeAt('/fail');
    expect(report).toMatchObject({ status: 'fail', version: '5.3.4', httpStatus: 503 });
    expect(report.details?.redis).toEqual({ status: 'fail', output: 'dial tcp: connection refused' });
  });

  it('trusts the body over a 200 (older Tyk always answers 200)', async () => {
    expect(await probeAt('/old-fail-200')).toMatchObject({ status: 'fail', version: '4.0.0', httpStatus: 200 });
  });

  it('reports a refused connection as unreachable without throwing', async () => {
    const report = await new HttpHealthProbe(() => closedPortUrl).probe(gateway);
    expect(report.status).toBe('unreachable');
    expect(report.httpStatus).toBeUndefined();
    expect(report.error).toContain('ECONNREFUSED');
  });

  it('reports a timeout as unreachable', async () => {
    const started = Date.now();
    const report = await probeAt('/slow', 150);
    expect(report.status).toBe('unreachable');
    expect(report.error).toBe(`GET ${base}/slow: no answer within 150 ms`);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('reports a caller abort as unreachable', async () => {
    const report = await new HttpHealthProbe(() => `${base}/slow`).probe(gateway, AbortSignal.timeout(50));
    expect(report).toMatchObject({ status: 'unreachable', error: `GET ${base}/slow: probe aborted` });
  });

  it('reports garbage, unknown statuses and an empty 503 as unreachable, quoting what came back', async () => {
    const garbage = await probeAt('/garbage');
    expect(garbage).toMatchObject({ status: 'unreachable', httpStatus: 200 });
    expect(garbage.error).toContain('"<html>hello</html>"');
    expect((await probeAt('/wrong-json')).status).toBe('unreachable');
    const empty = await probeAt('/empty-503');
    expect(empty).toMatchObject({ status: 'unreachable', httpStatus: 503 });
    expect(empty.error).toContain('(empty body)');
  });

  it('reports a URL function that throws as unreachable', async () => {
    const report = await new HttpHealthProbe(() => {
      throw new Error('no endpoint for cp-acme');
    }).probe(gateway);
    expect(report).toMatchObject({ status: 'unreachable', error: 'no health URL: no endpoint for cp-acme' });
  });

  it('takes the URL from an async lookup, and the version from versionOf when the body has none', async () => {
    routes['/no-version'] = [200, JSON.stringify({ status: 'pass', details: { redis: { status: 'pass' } } })];
    const probe = new HttpHealthProbe(async () => `${base}/no-version`, { versionOf: async () => '5.8.2' });
    expect(await probe.probe(gateway)).toMatchObject({ status: 'pass', version: '5.8.2', httpStatus: 200 });
    const failingLookup = new HttpHealthProbe(async () => `${base}/no-version`, {
      versionOf: async () => {
        throw new Error('apiserver down');
      },
    });
    const report = await failingLookup.probe(gateway);
    expect(report.status).toBe('pass');
    expect(report.version).toBeUndefined();
  });

  it('liveness-only endpoints (the Dashboard): 2xx is pass, anything else unreachable, whatever the body', async () => {
    const dashboard: ComponentRef = { controlPlaneId: 'cp-acme', kind: 'dashboard', id: 'dashboard' };
    const probe = (path: string) =>
      new HttpHealthProbe(() => `${base}${path}`, {
        livenessOnly: (c) => c.kind === 'dashboard',
        versionOf: async () => '5.8.2',
      }).probe(dashboard);
    expect(await probe('/garbage')).toMatchObject({ status: 'pass', version: '5.8.2', httpStatus: 200 });
    expect(await probe('/empty-503')).toMatchObject({
      status: 'unreachable',
      httpStatus: 503,
      error: `GET ${base}/empty-503 answered 503`,
    });
    expect((await probe('/nowhere')).status).toBe('unreachable');
  });

  it('parseHealthBody ignores malformed check entries', () => {
    expect(parseHealthBody('{"status":"PASS","details":{"redis":"x","rpc":{"status":1}}}')).toEqual({
      status: 'pass',
      details: { rpc: { status: 'unknown' } },
    });
    expect(parseHealthBody('null')).toBeUndefined();
  });
});
