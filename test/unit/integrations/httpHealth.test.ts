// The HTTP health probe against a local server that answers what real Tyk builds answer (see
// docs/decisions/0009-tyk-health.md): Gateways on 200-only builds (every build but 5.8.3, 5.8.6–5.8.12 and 5.9.0)
// and on the 503 builds, a Gateway before its first check, the Dashboard's liveness answer, and answers no Tyk build
// can give.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpHealthProbe, parseHealthBody } from '../../../integrations/httpHealth';
import type { ComponentRef } from '../../../domain/model';
import { closedPort } from './fixtures';

const gateway: ComponentRef = { controlPlaneId: 'cp-acme', kind: 'gateway', id: 'gateway' };
const dataPlane: ComponentRef = { controlPlaneId: 'cp-acme', kind: 'data-plane', id: 'dp-eu' };
const dashboard: ComponentRef = { controlPlaneId: 'cp-acme', kind: 'dashboard', id: 'dashboard' };
const time = '2026-05-01T10:00:00Z';

/** A Gateway /hello body as Tyk encodes it (`details` is omitempty: a Gateway with no check results has none). */
function hello(status: string, version: string, details?: Record<string, Record<string, unknown>>): string {
  return JSON.stringify({ status, version, description: 'Tyk GW', ...(details ? { details } : {}) });
}
const redisPass = { status: 'pass', componentType: 'datastore', time };
const redisDown = {
  status: 'fail',
  componentType: 'datastore',
  time,
  output: 'dial tcp 10.0.0.5:6379: connect: refused',
};
const dashboardPass = { status: 'pass', componentType: 'system', time };
const dashboardDown = { status: 'fail', componentType: 'system', time, output: 'dashboard unreachable' };
const rpcDown = { status: 'fail', componentType: 'system', time, output: 'Could not connect to RPC' };

/** path → [http status, body]; `/slow` never answers in time. */
const routes: Record<string, [number, string]> = {
  // Every build, all checks passing (a management Gateway: redis + dashboard).
  '/pass': [200, hello('pass', 'v5.8.2', { redis: redisPass, dashboard: dashboardPass })],
  // 200-only builds: one check of several failing is `warn`, all failing is `fail`; always HTTP 200.
  '/redis-down': [200, hello('warn', 'v5.8.2', { redis: redisDown, dashboard: dashboardPass })],
  '/rpc-down': [200, hello('warn', 'v5.8.2', { redis: redisPass, rpc: rpcDown })],
  '/all-down': [200, hello('fail', 'v5.8.2', { redis: redisDown, dashboard: dashboardDown })],
  '/only-redis-down': [200, hello('fail', 'v4.0.0', { redis: redisDown })],
  // 5.8.3, 5.8.6–5.8.12 and 5.9.0: a failing critical check (redis, dashboard, rpc outside emergency mode) is
  // `fail` with 503; a non-critical one is `warn` with 200.
  '/redis-down-503': [503, hello('fail', 'v5.9.0', { redis: redisDown, dashboard: dashboardPass })],
  '/all-down-503': [503, hello('fail', 'v5.9.0', { redis: redisDown, dashboard: dashboardDown })],
  '/rpc-emergency-503-build': [200, hello('warn', 'v5.9.0', { redis: redisPass, rpc: rpcDown })],
  // Before its first check (check_duration after start, 10 s by default): `pass`, no details.
  '/fresh': [200, hello('pass', 'v5.8.2')],
  '/fresh-empty-details': [200, hello('pass', 'v5.8.2', {})],
  // No Tyk build answers these.
  '/warn-item': [200, hello('warn', 'v5.8.2', { redis: { status: 'warn', time }, dashboard: dashboardPass })],
  '/item-not-object': [200, JSON.stringify({ status: 'pass', version: 'v5.8.2', details: { redis: 'ok' } })],
  '/pass-but-failing': [200, hello('pass', 'v5.8.2', { redis: redisDown, dashboard: dashboardPass })],
  '/fail-but-one-passes-200': [200, hello('fail', 'v5.8.2', { redis: redisDown, dashboard: dashboardPass })],
  '/warn-503': [503, hello('warn', 'v5.9.0', { redis: redisDown, dashboard: dashboardPass })],
  '/fail-without-checks': [503, hello('fail', 'v5.9.0')],
  '/warn-without-checks': [200, hello('warn', 'v5.8.2', {})],
  '/tyk-body-500': [500, hello('pass', 'v5.8.2', { redis: redisPass })],
  '/upper-case': [200, hello('PASS', 'v5.8.2', { redis: redisPass })],
  '/garbage': [200, '<html>hello</html>'],
  '/wrong-json': [200, JSON.stringify({ status: 'ok', message: 'Hello Tiki' })],
  '/empty-503': [503, ''],
  // The Dashboard's /hello: liveness only.
  '/dashboard': [200, JSON.stringify({ status: 'ok' })],
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

const probeAt = (path: string, component: ComponentRef = gateway, timeoutMs = 1000) =>
  new HttpHealthProbe(() => `${base}${path}`, { timeoutMs }).probe(component);

describe('HttpHealthProbe: a Gateway', () => {
  it('reports pass with the version normalized and the checks', async () => {
    const before = Date.now();
    const report = await probeAt('/pass');
    expect(report).toMatchObject({
      component: gateway,
      status: 'pass',
      version: '5.8.2',
      httpStatus: 200,
      details: { redis: { status: 'pass' }, dashboard: { status: 'pass' } },
    });
    expect(report.error).toBeUndefined();
    expect(report.awaitingFirstCheck).toBeUndefined();
    expect(report.reportedStatus).toBeUndefined();
    expect(Date.parse(report.at)).toBeGreaterThanOrEqual(before - 1);
  });

  it('reports warn when one check of several fails, with the failing check and its output', async () => {
    const report = await probeAt('/redis-down');
    expect(report).toMatchObject({ status: 'warn', httpStatus: 200, version: '5.8.2' });
    expect(report.details).toEqual({
      redis: { status: 'fail', output: 'dial tcp 10.0.0.5:6379: connect: refused' },
      dashboard: { status: 'pass' },
    });
    expect((await probeAt('/rpc-down', dataPlane)).status).toBe('warn');
  });

  it('reports fail when every check fails, on a 200 (every build since 5.9.1 and 5.8.13) as on a 503', async () => {
    expect(await probeAt('/all-down')).toMatchObject({ status: 'fail', httpStatus: 200, version: '5.8.2' });
    expect(await probeAt('/only-redis-down')).toMatchObject({ status: 'fail', httpStatus: 200, version: '4.0.0' });
    const report = await probeAt('/all-down-503');
    expect(report).toMatchObject({ status: 'fail', httpStatus: 503, version: '5.9.0' });
    expect(report.reportedStatus).toBeUndefined();
  });

  it('judges a Redis outage the same whatever the build: warn, keeping what a 503 build said', async () => {
    const on200Build = await probeAt('/redis-down');
    const on503Build = await probeAt('/redis-down-503');
    expect(on503Build).toMatchObject({ status: 'warn', reportedStatus: 'fail', httpStatus: 503, version: '5.9.0' });
    expect(on503Build.details).toEqual(on200Build.details);
    expect(on200Build.reportedStatus).toBeUndefined();
    // A 503 build in RPC emergency mode calls a failing rpc check warn, with 200: the same verdict.
    expect(await probeAt('/rpc-emergency-503-build', dataPlane)).toMatchObject({ status: 'warn', httpStatus: 200 });
  });

  it('a Gateway before its first check (pass, no details) is a pass that is no evidence', async () => {
    for (const path of ['/fresh', '/fresh-empty-details']) {
      const report = await probeAt(path);
      expect(report).toMatchObject({ status: 'pass', version: '5.8.2', httpStatus: 200, awaitingFirstCheck: true });
      expect(report.details).toBeUndefined();
    }
    // The same for a data plane's Gateway.
    expect(await probeAt('/fresh', dataPlane)).toMatchObject({ status: 'pass', awaitingFirstCheck: true });
  });

  it.each([
    ['/warn-item', 'check redis is "warn": Tyk checks are only pass or fail'],
    ['/item-not-object', 'check redis is not an object'],
    ['/pass-but-failing', 'says pass with 1 of 2 checks failing'],
    ['/fail-but-one-passes-200', 'says fail with 1 of 2 checks failing and HTTP 200'],
    ['/warn-503', 'says warn with HTTP 503'],
    ['/fail-without-checks', 'says fail without any check'],
    ['/warn-without-checks', 'says warn without any check'],
    ['/upper-case', 'status "PASS" is not pass, warn or fail'],
  ])('reports an answer no Tyk build gives (%s) as unreachable, saying why', async (path, why) => {
    const report = await probeAt(path);
    expect(report.status).toBe('unreachable');
    expect(report.error).toContain(`GET ${base}${path}`);
    expect(report.error).toContain(why);
    expect(report.details).toBeUndefined();
  });

  it('reports a Tyk body with an HTTP status Tyk never sends as unreachable', async () => {
    const report = await probeAt('/tyk-body-500');
    expect(report).toMatchObject({ status: 'unreachable', httpStatus: 500 });
    expect(report.error).toContain('answered 500');
  });

  it('reports a refused connection as unreachable without throwing', async () => {
    const report = await new HttpHealthProbe(() => closedPortUrl).probe(gateway);
    expect(report.status).toBe('unreachable');
    expect(report.httpStatus).toBeUndefined();
    expect(report.error).toContain('ECONNREFUSED');
  });

  it('reports a timeout as unreachable', async () => {
    const started = Date.now();
    const report = await probeAt('/slow', gateway, 150);
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
    routes['/no-version'] = [200, JSON.stringify({ status: 'pass', details: { redis: redisPass } })];
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
});

describe('HttpHealthProbe: the Dashboard', () => {
  const probe = (path: string, opts: ConstructorParameters<typeof HttpHealthProbe>[1] = {}) =>
    new HttpHealthProbe(() => `${base}${path}`, { versionOf: async () => '5.8.2', ...opts }).probe(dashboard);

  it('is probed for liveness by default, as production probes it: 2xx is pass, the version from versionOf', async () => {
    const report = await probe('/dashboard');
    expect(report).toMatchObject({ status: 'pass', version: '5.8.2', httpStatus: 200 });
    expect(report.awaitingFirstCheck).toBeUndefined();
    expect(report.details).toBeUndefined();
  });

  it('liveness: anything but 2xx is unreachable (not fail), whatever the body', async () => {
    expect(await probe('/garbage')).toMatchObject({ status: 'pass', version: '5.8.2', httpStatus: 200 });
    expect(await probe('/empty-503')).toMatchObject({
      status: 'unreachable',
      httpStatus: 503,
      error: `GET ${base}/empty-503 answered 503`,
    });
    expect((await probe('/nowhere')).status).toBe('unreachable');
    // Without a version source the liveness answer cannot count on the target version.
    const unversioned = await new HttpHealthProbe(() => `${base}/dashboard`).probe(dashboard);
    expect(unversioned).toMatchObject({ status: 'pass', httpStatus: 200 });
    expect(unversioned.version).toBeUndefined();
  });

  it('livenessOnly decides which components are probed for liveness', async () => {
    const liveness = (path: string, component: ComponentRef) =>
      new HttpHealthProbe(() => `${base}${path}`, { livenessOnly: (c) => c.kind !== 'dashboard' }).probe(component);
    expect(await liveness('/garbage', gateway)).toMatchObject({ status: 'pass', httpStatus: 200 });
    expect((await liveness('/dashboard', dashboard)).status).toBe('unreachable');
  });
});

describe('parseHealthBody', () => {
  it('reads a Tyk body, or says why it is not one', () => {
    expect(parseHealthBody(hello('pass', 'v5.8.2', { redis: { ...redisPass, output: '' } }))).toEqual({
      status: 'pass',
      version: 'v5.8.2',
      details: { redis: { status: 'pass' } },
    });
    expect(parseHealthBody(hello('pass', 'v5.8.2'))).toEqual({ status: 'pass', version: 'v5.8.2', details: {} });
    expect(parseHealthBody('null')).toBeUndefined();
    expect(parseHealthBody('{"status":"pass","details":{"redis":{"status":1}}}')).toEqual({
      malformed: 'check redis has no status',
    });
    expect(parseHealthBody('{"status":"pass","details":[]}')).toEqual({ malformed: 'details is not an object' });
  });
});
