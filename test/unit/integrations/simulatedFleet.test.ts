import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RolloutFailedError } from '../../../activities/ports';
import type { ComponentRef } from '../../../domain/model';
import { HttpHealthProbe, parseHealthBody } from '../../../integrations/httpHealth';
import { SimulatedPlatform, simulatedHealthProbe } from '../../../integrations/simulatedFleet/adapter';
import { SimulatedFleet, tykHelloRules, type SimulatedFleetOptions } from '../../../integrations/simulatedFleet/server';
import { closedPort, controlPlane, inventory, sleep, tempDir } from './fixtures';

const ROLLOUT_MS = 150;
/** Tyk's check_duration in these fleets: a Gateway answers without checks for this long after it (re)starts. */
const CHECK_MS = 100;

const fleetInventory = inventory([
  controlPlane('cp-plain', { dataPlanes: [{ id: 'dp-eu', version: '5.3.4' }] }),
  controlPlane('cp-faulty', {
    simulate: { faults: { gateway: 'fail-after-upgrade', dashboard: 'warn-after-upgrade', 'dp-eu': 'upgrade-error' } },
    dataPlanes: [
      { id: 'dp-eu', version: '5.3.4' },
      { id: 'dp-us', version: '5.3.4' },
    ],
  }),
]);

const ref = (controlPlaneId: string, id: string): ComponentRef => ({
  controlPlaneId,
  kind: id === 'dashboard' || id === 'gateway' ? id : 'data-plane',
  id,
});

const { dir, cleanup } = tempDir('fleet');
const open: SimulatedFleet[] = [];
async function startFleet(opts: Partial<SimulatedFleetOptions> = {}): Promise<SimulatedFleet> {
  const fleet = await SimulatedFleet.start({
    inventory: fleetInventory,
    rolloutMs: ROLLOUT_MS,
    checkDurationMs: CHECK_MS,
    ...opts,
  });
  open.push(fleet);
  return fleet;
}
async function stop(fleet: SimulatedFleet): Promise<void> {
  open.splice(open.indexOf(fleet), 1);
  await fleet.close();
}
afterAll(async () => {
  await Promise.all(open.map((f) => f.close()));
  cleanup();
});

const noProgress = () => undefined;
const never = () => new AbortController().signal;

describe('SimulatedFleet /hello', () => {
  let fleet: SimulatedFleet;
  beforeAll(async () => {
    fleet = await startFleet({ faults: { 'cp-plain/dp-eu': 'unreachable' } });
  });

  it('answers like a Tyk Gateway: pass, its version, and its checks (redis, and dashboard or rpc)', async () => {
    const res = await fetch(fleet.healthUrl(ref('cp-plain', 'gateway')));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as { details: Record<string, { time: string }> };
    expect(body).toEqual({
      status: 'pass',
      version: 'v5.3.4',
      description: 'Tyk GW',
      details: {
        redis: { status: 'pass', componentType: 'datastore', time: expect.any(String) },
        // The management Gateway reads its APIs from the Dashboard (use_db_app_configs): it checks the Dashboard.
        dashboard: { status: 'pass', componentType: 'system', time: expect.any(String) },
      },
    });
    // Go's time.RFC3339: whole seconds.
    expect(body.details.redis!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // A data plane's Gateway takes its policies over RPC (MDCB): it checks RPC.
    const dp = (await (await fetch(fleet.healthUrl(ref('cp-faulty', 'dp-us')))).json()) as {
      details: Record<string, { status: string; componentType: string }>;
    };
    expect(Object.keys(dp.details)).toEqual(['redis', 'rpc']);
    expect(dp.details.rpc).toMatchObject({ status: 'pass', componentType: 'system' });
  });

  it("answers like Tyk's Dashboard: liveness only, 200 while it runs", async () => {
    const res = await fetch(fleet.healthUrl(ref('cp-plain', 'dashboard')));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ status: 'ok' });
    // Probed as production probes it: liveness, with the version from the platform.
    const probe = simulatedHealthProbe(fleet.baseUrl, { timeoutMs: 1000 });
    expect(probe).toBeInstanceOf(HttpHealthProbe);
    expect(await probe.probe(ref('cp-plain', 'dashboard'))).toMatchObject({
      status: 'pass',
      version: '5.3.4',
      httpStatus: 200,
    });
  });

  it('answers 503 without JSON for an unreachable component', async () => {
    const res = await fetch(fleet.healthUrl(ref('cp-plain', 'dp-eu')));
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(await res.text()).toBe('no healthy upstream');
    expect((await new HttpHealthProbe((c) => fleet.healthUrl(c)).probe(ref('cp-plain', 'dp-eu'))).status).toBe(
      'unreachable',
    );
  });

  it('answers 404 for unknown components and routes, 405 for wrong methods, 400 for a bad deploy', async () => {
    const unknown = await fetch(`${fleet.baseUrl}/cp/cp-plain/dp-nowhere/hello`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'no component dp-nowhere in control plane cp-plain' });
    expect((await fetch(`${fleet.baseUrl}/nope`)).status).toBe(404);
    expect((await fetch(`${fleet.baseUrl}/cp/cp-plain/gateway/hello`, { method: 'POST' })).status).toBe(405);
    const bad = await fetch(`${fleet.componentUrl('cp-plain', 'gateway')}/deploy`, {
      method: 'POST',
      body: JSON.stringify({ version: 'latest' }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'version = "latest": not a semantic version such as 5.8.2' });
  });

  it('lists every component in GET /state', async () => {
    const state = (await (await fetch(`${fleet.baseUrl}/state`)).json()) as {
      components: { controlPlaneId: string; componentId: string; kind: string; fault: string | null }[];
    };
    expect(state.components.map((c) => `${c.controlPlaneId}/${c.componentId}:${c.kind}:${c.fault}`)).toEqual([
      'cp-plain/dashboard:dashboard:null',
      'cp-plain/gateway:gateway:null',
      'cp-plain/dp-eu:data-plane:unreachable',
      'cp-faulty/dashboard:dashboard:warn-after-upgrade',
      'cp-faulty/gateway:gateway:fail-after-upgrade',
      'cp-faulty/dp-eu:data-plane:upgrade-error',
      'cp-faulty/dp-us:data-plane:null',
    ]);
  });

  it('rejects a fault key that names no control plane/component pair', async () => {
    await expect(
      SimulatedFleet.start({ inventory: fleetInventory, faults: { gateway: 'unreachable' } }),
    ).rejects.toThrow('faults: key "gateway" must be <controlPlaneId>/<componentId>');
  });
});

describe('SimulatedFleet health: what Tyk builds answer', () => {
  const healthInventory = inventory([
    controlPlane('cp-warn', {
      simulate: { faults: { gateway: 'warn-after-upgrade', 'dp-eu': 'degraded' } },
      dataPlanes: [{ id: 'dp-eu', version: '5.3.4' }],
    }),
    controlPlane('cp-fail', {
      simulate: {
        faults: { gateway: 'fail-after-upgrade', 'dp-eu': 'fail-after-upgrade', dashboard: 'upgrade-error' },
      },
      dataPlanes: [{ id: 'dp-eu', version: '5.3.4' }],
    }),
    controlPlane('cp-dash-down', {
      simulate: { faults: { dashboard: 'fail-after-upgrade' } },
      dataPlanes: [{ id: 'dp-eu', version: '5.3.4' }],
    }),
  ]);
  let fleet: SimulatedFleet;
  let platform: SimulatedPlatform;
  let probe: HttpHealthProbe;
  beforeAll(async () => {
    fleet = await startFleet({ inventory: healthInventory, rolloutMs: 20 });
    platform = new SimulatedPlatform(fleet.baseUrl, { pollMs: 5 });
    probe = simulatedHealthProbe(fleet.baseUrl, { timeoutMs: 1000, platform });
  });
  const hello = async (cp: string, id: string) => {
    const res = await fetch(fleet.healthUrl(ref(cp, id)));
    return { httpStatus: res.status, text: await res.text() };
  };
  /** Upgrades, then waits for the Gateway's first check. */
  const upgrade = async (cp: string, id: string, version: string) => {
    await platform.upgrade(ref(cp, id), version, noProgress, never());
    await sleep(CHECK_MS + 20);
  };

  it('tells the 503 builds (5.8.3, 5.8.6–5.8.12, 5.9.0) from the others', () => {
    const critical = ['5.8.3', '5.8.6', '5.8.9', '5.8.12', '5.9.0'];
    const always200 = ['5.3.4', '5.8.0', '5.8.2', '5.8.4', '5.8.5', '5.8.13', '5.9.1', '5.10.0', '5.11.1', '6.0.0'];
    expect(critical.map(tykHelloRules)).toEqual(critical.map(() => 'critical-503'));
    expect(always200.map(tykHelloRules)).toEqual(always200.map(() => 'always-200'));
  });

  it('a Gateway answers pass without details until its first check, check_duration after a rollout', async () => {
    const gw = ref('cp-warn', 'dp-eu');
    // Components running since before the fleet started have run their checks.
    expect(JSON.parse((await hello('cp-warn', 'dp-eu')).text)).toHaveProperty('details');
    await platform.upgrade(gw, '5.3.5', noProgress, never());
    const fresh = await hello('cp-warn', 'dp-eu');
    expect(fresh.httpStatus).toBe(200);
    // Tyk's details is omitempty: no check results, no details.
    expect(JSON.parse(fresh.text)).toEqual({ status: 'pass', version: 'v5.3.5', description: 'Tyk GW' });
    expect(await probe.probe(gw)).toMatchObject({ status: 'pass', awaitingFirstCheck: true });
    await sleep(CHECK_MS + 20);
    // The data plane is degraded (redis slow): now that its checks ran, it says so.
    expect(await probe.probe(gw)).toMatchObject({ status: 'warn', httpStatus: 200, version: '5.3.5' });
  });

  it('a rollout that fails restarts nothing: the Gateway keeps answering with its checks', async () => {
    await expect(platform.upgrade(ref('cp-fail', 'dashboard'), '5.8.2', noProgress, never())).rejects.toThrow(
      RolloutFailedError,
    );
    expect(await probe.probe(ref('cp-fail', 'dashboard'))).toMatchObject({ status: 'pass', version: '5.3.4' });
    const gw = await probe.probe(ref('cp-fail', 'gateway'));
    expect(gw).toMatchObject({ status: 'pass', version: '5.3.4' });
    expect(gw.awaitingFirstCheck).toBeUndefined();
  });

  it('warn-after-upgrade: redis fails, the other check passes: warn with 200, or fail with 503 on a 503 build', async () => {
    await upgrade('cp-warn', 'gateway', '5.8.2');
    const on582 = await hello('cp-warn', 'gateway');
    expect(on582.httpStatus).toBe(200);
    expect(JSON.parse(on582.text)).toMatchObject({
      status: 'warn',
      details: {
        redis: { status: 'fail', output: 'simulated fault warn-after-upgrade: redis slow since v5.8.2' },
        dashboard: { status: 'pass' },
      },
    });
    expect(await probe.probe(ref('cp-warn', 'gateway'))).toMatchObject({ status: 'warn', httpStatus: 200 });

    await upgrade('cp-warn', 'gateway', '5.9.0');
    const on590 = await hello('cp-warn', 'gateway');
    expect(on590.httpStatus).toBe(503);
    expect(JSON.parse(on590.text)).toMatchObject({ status: 'fail', details: { redis: { status: 'fail' } } });
    // nightshift judges the outage the same on both builds.
    expect(await probe.probe(ref('cp-warn', 'gateway'))).toMatchObject({
      status: 'warn',
      reportedStatus: 'fail',
      httpStatus: 503,
      version: '5.9.0',
    });
  });

  it('fail-after-upgrade on a data plane: redis and rpc fail', async () => {
    await upgrade('cp-fail', 'dp-eu', '5.8.2');
    const report = await probe.probe(ref('cp-fail', 'dp-eu'));
    expect(report).toMatchObject({ status: 'fail', httpStatus: 200 });
    expect(Object.entries(report.details!).map(([name, d]) => `${name}: ${d.status}`)).toEqual([
      'redis: fail',
      'rpc: fail',
    ]);
  });

  it("the management Gateway's dashboard check fails while its Dashboard does not answer", async () => {
    await platform.upgrade(ref('cp-dash-down', 'dashboard'), '5.8.2', noProgress, never());
    expect(await probe.probe(ref('cp-dash-down', 'dashboard'))).toMatchObject({ status: 'unreachable' });
    const gw = await probe.probe(ref('cp-dash-down', 'gateway'));
    expect(gw).toMatchObject({ status: 'warn', version: '5.3.4' });
    expect(gw.details).toMatchObject({ redis: { status: 'pass' }, dashboard: { status: 'fail' } });
    expect((await probe.probe(ref('cp-dash-down', 'dp-eu'))).status).toBe('pass');
    fleet.setFault('cp-dash-down', 'dashboard', null);
    expect((await probe.probe(ref('cp-dash-down', 'gateway'))).status).toBe('pass');
  });

  it('answers only bodies a Tyk build can produce, whatever the fault and the build', async () => {
    const seen = new Set<string>();
    const faults = ['fail-after-upgrade', 'warn-after-upgrade', 'degraded', 'upgrade-error', null] as const;
    for (const version of ['5.8.2', '5.9.0']) {
      for (const fault of faults) {
        for (const id of ['gateway', 'dp-eu']) {
          fleet.setFault('cp-warn', id, fault);
          await platform.upgrade(ref('cp-warn', id), version, noProgress, never()).catch(() => undefined);
          for (const wait of [0, CHECK_MS + 20]) {
            await sleep(wait);
            const { httpStatus, text } = await hello('cp-warn', id);
            const body = parseHealthBody(text);
            expect(body && !('malformed' in body)).toBe(true);
            if (!body || 'malformed' in body) continue;
            const checks = Object.values(body.details);
            const failing = checks.filter((c) => c.status === 'fail').length;
            expect(checks.every((c) => c.status === 'pass' || c.status === 'fail')).toBe(true);
            if (body.status === 'warn') expect(failing > 0 && failing < checks.length).toBe(true);
            if (body.status === 'pass') expect(failing).toBe(0);
            if (body.status === 'fail') expect(failing).toBeGreaterThan(0);
            expect(httpStatus).toBe(body.status === 'fail' && tykHelloRules(version) === 'critical-503' ? 503 : 200);
            seen.add(`${body.status}/${httpStatus}`);
          }
        }
      }
      await platform.upgrade(ref('cp-warn', 'gateway'), '5.3.4', noProgress, never());
      await platform.upgrade(ref('cp-warn', 'dp-eu'), '5.3.4', noProgress, never());
    }
    expect([...seen].sort()).toEqual(['fail/200', 'fail/503', 'pass/200', 'warn/200']);
  });
});

describe('SimulatedPlatform against the fleet', () => {
  let fleet: SimulatedFleet;
  let platform: SimulatedPlatform;
  let probe: HttpHealthProbe;
  beforeAll(async () => {
    fleet = await startFleet();
    platform = new SimulatedPlatform(fleet.baseUrl, { pollMs: 20 });
    probe = simulatedHealthProbe(fleet.baseUrl, { timeoutMs: 1000, platform });
  });

  it('upgrades in rolloutMs, reporting progress, and is idempotent afterwards', async () => {
    const gw = ref('cp-plain', 'gateway');
    expect(platform.name).toBe('simulated');
    expect(await platform.currentVersion(gw)).toBe('5.3.4');
    const progress: Record<string, unknown>[] = [];
    const started = Date.now();
    const result = await platform.upgrade(gw, 'v5.8.2', (d) => progress.push(d), never());
    const took = Date.now() - started;
    expect(result).toEqual({ changed: true, from: '5.3.4', to: '5.8.2' });
    expect(took).toBeGreaterThanOrEqual(ROLLOUT_MS - 5);
    expect(took).toBeLessThan(ROLLOUT_MS + 1000);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress[0]).toMatchObject({ phase: 'rolling-out', component: 'gateway', from: '5.3.4', to: '5.8.2' });
    expect(await platform.currentVersion(gw)).toBe('5.8.2');
    expect(await probe.probe(gw)).toMatchObject({ status: 'pass', version: '5.8.2' });

    const state = fleet.component('cp-plain', 'gateway')!;
    expect(state).toMatchObject({ version: '5.8.2', previousVersion: '5.3.4', rollout: null, deployGeneration: 1 });
    expect(state.lastRollout).toMatchObject({
      outcome: 'succeeded',
      fromVersion: '5.3.4',
      toVersion: '5.8.2',
      generation: 1,
    });

    const again = Date.now();
    expect(await platform.upgrade(gw, '5.8.2', noProgress, never())).toEqual({
      changed: false,
      from: '5.8.2',
      to: '5.8.2',
    });
    expect(Date.now() - again).toBeLessThan(ROLLOUT_MS);
    expect(fleet.component('cp-plain', 'gateway')!.deployGeneration).toBe(1);
  });

  it('deploy says so when nothing changes, and a retried upgrade waits for the rollout already running', async () => {
    const dp = ref('cp-plain', 'dp-eu');
    const deploy = (version: string) =>
      fetch(`${fleet.componentUrl('cp-plain', 'dp-eu')}/deploy`, {
        method: 'POST',
        body: JSON.stringify({ version, requestId: 'r-1' }),
      });
    const same = await deploy('5.3.4');
    expect(same.status).toBe(200);
    expect(await same.json()).toMatchObject({ changed: false, message: 'already running 5.3.4' });

    const first = await deploy('5.8.2');
    expect(first.status).toBe(202);
    expect(await first.json()).toMatchObject({
      changed: true,
      state: { rollout: { toVersion: '5.8.2', requestId: 'r-1', generation: 1 } },
    });
    const second = await deploy('v5.8.2');
    expect(await second.json()).toMatchObject({ changed: false, message: 'already rolling out to 5.8.2' });

    // An activity retried mid-rollout: it waits for the same rollout rather than starting another.
    expect(await platform.upgrade(dp, '5.8.2', noProgress, never())).toEqual({
      changed: true,
      from: '5.3.4',
      to: '5.8.2',
    });
    expect(fleet.component('cp-plain', 'dp-eu')).toMatchObject({ version: '5.8.2', deployGeneration: 1 });
  });

  it('snapshots and restores, idempotently', async () => {
    const dash = ref('cp-plain', 'dashboard');
    const snapshot = await platform.snapshot(dash);
    expect(snapshot).toMatchObject({ component: dash, version: '5.3.4', data: { version: '5.3.4' } });
    expect(Number.isNaN(Date.parse(snapshot.takenAt))).toBe(false);
    await platform.upgrade(dash, '5.8.2', noProgress, never());
    expect(await platform.restore(dash, snapshot, noProgress, never())).toEqual({
      changed: true,
      from: '5.8.2',
      to: '5.3.4',
    });
    expect(await platform.currentVersion(dash)).toBe('5.3.4');
    expect(await platform.restore(dash, snapshot, noProgress, never())).toEqual({
      changed: false,
      from: '5.3.4',
      to: '5.3.4',
    });
    expect(fleet.component('cp-plain', 'dashboard')).toMatchObject({
      version: '5.3.4',
      previousVersion: '5.8.2',
      deployGeneration: 2,
    });
  });

  it('fail-after-upgrade: every check fails on the new version (200 on 5.8.2, 503 on 5.9.0), not after rollback', async () => {
    const gw = ref('cp-faulty', 'gateway');
    expect((await probe.probe(gw)).status).toBe('pass');
    const snapshot = await platform.snapshot(gw);
    await platform.upgrade(gw, '5.8.2', noProgress, never());
    // Just restarted: no check has run yet.
    expect(await probe.probe(gw)).toMatchObject({ status: 'pass', awaitingFirstCheck: true, version: '5.8.2' });
    await sleep(CHECK_MS + 20);
    const failing = await probe.probe(gw);
    expect(failing).toMatchObject({ status: 'fail', httpStatus: 200, version: '5.8.2' });
    expect(failing.details).toEqual({
      redis: { status: 'fail', output: 'simulated fault fail-after-upgrade: redis unreachable since v5.8.2' },
      dashboard: { status: 'fail', output: 'simulated fault fail-after-upgrade: dashboard unreachable since v5.8.2' },
    });
    await platform.restore(gw, snapshot, noProgress, never());
    await sleep(CHECK_MS + 20);
    expect(await probe.probe(gw)).toMatchObject({ status: 'pass', httpStatus: 200, version: '5.3.4' });
    await platform.upgrade(gw, '5.9.0', noProgress, never());
    await sleep(CHECK_MS + 20);
    expect(await probe.probe(gw)).toMatchObject({ status: 'fail', httpStatus: 503, version: '5.9.0' });
    await platform.restore(gw, snapshot, noProgress, never());
  });

  it("warn-after-upgrade: the Dashboard's liveness cannot show it; PUT …/fault clears or injects a fault", async () => {
    const dash = ref('cp-faulty', 'dashboard');
    await platform.upgrade(dash, '5.8.2', noProgress, never());
    expect(await probe.probe(dash)).toMatchObject({ status: 'pass', httpStatus: 200, version: '5.8.2' });
    const url = `${fleet.componentUrl('cp-faulty', 'dashboard')}/fault`;
    const put = (body: unknown) => fetch(url, { method: 'PUT', body: JSON.stringify(body) });
    expect((await put({ fault: null })).status).toBe(200);
    expect(await probe.probe(dash)).toMatchObject({ status: 'pass', version: '5.8.2' });
    const bad = await put({ fault: 'on-fire' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe(
      'fault = "on-fire": must be null or one of fail-after-upgrade, warn-after-upgrade, upgrade-error, unreachable, degraded, slow-rollout',
    );
    // A Dashboard failing after its upgrade stops answering: liveness says unreachable, never fail.
    expect((await put({ fault: 'fail-after-upgrade' })).status).toBe(200);
    expect(await probe.probe(dash)).toMatchObject({ status: 'unreachable', httpStatus: 503 });
    expect((await put({ fault: 'warn-after-upgrade' })).status).toBe(200);
    expect((await probe.probe(dash)).status).toBe('pass');
  });

  it('upgrade-error: the rollout fails after rolloutMs and the old version keeps running', async () => {
    const dp = ref('cp-faulty', 'dp-eu');
    const started = Date.now();
    const failure = platform.upgrade(dp, '5.8.2', noProgress, never());
    await expect(failure).rejects.toThrow(
      'rollout of data plane dp-eu of cp-faulty to 5.8.2 failed: progress deadline exceeded; 5.3.4 keeps running',
    );
    await expect(failure).rejects.toBeInstanceOf(RolloutFailedError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(ROLLOUT_MS - 5);
    const state = fleet.component('cp-faulty', 'dp-eu')!;
    expect(state).toMatchObject({ version: '5.3.4', rollout: null });
    expect(state.lastRollout).toMatchObject({
      outcome: 'failed',
      reason: 'ProgressDeadlineExceeded',
      toVersion: '5.8.2',
    });
    expect((await probe.probe(dp)).version).toBe('5.3.4');
    // Restoring to the version it still runs changes nothing.
    expect(
      await platform.restore(
        dp,
        { component: dp, version: '5.3.4', takenAt: new Date().toISOString() },
        noProgress,
        never(),
      ),
    ).toEqual({
      changed: false,
      from: '5.3.4',
      to: '5.3.4',
    });
  });

  it('stops waiting when the signal aborts, leaving the rollout to finish', async () => {
    const dp = ref('cp-faulty', 'dp-us');
    const controller = new AbortController();
    const upgrading = platform.upgrade(
      dp,
      '5.8.2',
      () => controller.abort(new Error('activity cancelled')),
      controller.signal,
    );
    await expect(upgrading).rejects.toThrow('activity cancelled');
    expect(fleet.component('cp-faulty', 'dp-us')!.rollout).toMatchObject({ toVersion: '5.8.2' });
    await sleep(ROLLOUT_MS + 20);
    expect(fleet.component('cp-faulty', 'dp-us')!.version).toBe('5.8.2');
  });

  it('reports a rollout superseded by another deploy as a retryable error', async () => {
    const own = await startFleet();
    const ownPlatform = new SimulatedPlatform(own.baseUrl, { pollMs: 20 });
    const gw = ref('cp-plain', 'gateway');
    let redeployed = false;
    const upgrading = ownPlatform.upgrade(
      gw,
      '5.8.2',
      () => {
        if (redeployed) return;
        redeployed = true;
        void fetch(`${own.componentUrl('cp-plain', 'gateway')}/deploy`, {
          method: 'POST',
          body: JSON.stringify({ version: '5.8.3' }),
        });
      },
      never(),
    );
    const error = await upgrading.catch((err: Error) => err);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(RolloutFailedError);
    expect((error as Error).message).toBe(
      'rollout of gateway of cp-plain to 5.8.2 was superseded by another deploy: 5.3.4 is running, now rolling out to 5.8.3',
    );
    expect(own.component('cp-plain', 'gateway')!.lastRollout).toMatchObject({
      outcome: 'superseded',
      toVersion: '5.8.2',
    });
    await stop(own);
  });

  it('names the URL and the cause when the fleet cannot be reached or the component is unknown', async () => {
    await expect(platform.currentVersion(ref('cp-nowhere', 'gateway'))).rejects.toThrow(
      `simulated platform: GET ${fleet.baseUrl}/cp/cp-nowhere/gateway answered 404: no component gateway in control plane cp-nowhere`,
    );
    const port = await closedPort();
    const down = new SimulatedPlatform(`http://127.0.0.1:${port}`, { requestTimeoutMs: 500 });
    await expect(down.currentVersion(ref('cp-plain', 'gateway'))).rejects.toThrow(
      `simulated platform: GET http://127.0.0.1:${port}/cp/cp-plain/gateway failed: ECONNREFUSED`,
    );
  });
});

describe('SimulatedFleet and SimulatedPlatform: configuration', () => {
  const gatewayConfig = { hybrid: { enabled: false }, listen_port: 8080 };
  const configInventory = inventory([
    controlPlane('cp-config', { config: gatewayConfig, dataPlanes: [{ id: 'dp-eu', version: '5.3.4' }] }),
    controlPlane('cp-broken', { config: gatewayConfig, simulate: { faults: { gateway: 'upgrade-error' } } }),
  ]);
  const migrations = [{ key: 'hybrid.enabled', to: 'dten.hybrid.enable', renamedIn: '5.8.0', value: true }];
  const migrated = { dten: { hybrid: { enable: true } }, listen_port: 8080 };
  let fleet: SimulatedFleet;
  let platform: SimulatedPlatform;
  beforeAll(async () => {
    fleet = await startFleet({ inventory: configInventory });
    platform = new SimulatedPlatform(fleet.baseUrl, { pollMs: 20 });
  });

  it('seeds the gateway from the inventory config and shows every configuration over HTTP', async () => {
    const gateway = (await (await fetch(fleet.componentUrl('cp-config', 'gateway'))).json()) as { config: unknown };
    expect(gateway.config).toEqual(gatewayConfig);
    const state = (await (await fetch(`${fleet.baseUrl}/state`)).json()) as {
      components: { controlPlaneId: string; componentId: string; config: unknown }[];
    };
    const configOf = (cp: string, id: string) =>
      state.components.find((c) => c.controlPlaneId === cp && c.componentId === id)?.config;
    expect(configOf('cp-config', 'gateway')).toEqual(gatewayConfig);
    expect(configOf('cp-config', 'dashboard')).toEqual({});
    expect(configOf('cp-config', 'dp-eu')).toEqual({});
  });

  it('migrates in the same rollout as the version change, and not twice when retried', async () => {
    const gw = ref('cp-config', 'gateway');
    const snapshot = await platform.snapshot(gw);
    expect(snapshot).toMatchObject({ version: '5.3.4', config: gatewayConfig });

    const during: { version: string; config: unknown }[] = [];
    const result = await platform.upgrade(
      gw,
      '5.8.2',
      () => {
        const c = fleet.component('cp-config', 'gateway')!;
        during.push({ version: c.version, config: c.config });
      },
      never(),
      { configMigrations: migrations },
    );
    expect(result).toEqual({ changed: true, from: '5.3.4', to: '5.8.2' });
    const after = fleet.component('cp-config', 'gateway')!;
    during.push({ version: after.version, config: after.config });
    // The running gateway keeps its configuration until the rollout that carries the new one succeeds.
    // (A progress report can land just after the rollout settled: then version and config have changed together.)
    const stillOld = during.filter((c) => c.version === '5.3.4');
    expect(stillOld.length).toBeGreaterThan(0);
    // Deep equality, not JSON text: a migration moves keys, so their order differs from the literal here.
    for (const c of stillOld) expect(c.config).toEqual(gatewayConfig);
    for (const c of during.filter((d) => d.version === '5.8.2')) expect(c.config).toEqual(migrated);
    const state = fleet.component('cp-config', 'gateway')!;
    expect(state).toMatchObject({ version: '5.8.2', config: migrated, deployGeneration: 1 });
    expect(state.lastRollout).toMatchObject({ outcome: 'succeeded', toVersion: '5.8.2', config: migrated });

    // A retried activity: already upgraded and migrated, so nothing to do.
    expect(await platform.upgrade(gw, '5.8.2', noProgress, never(), { configMigrations: migrations })).toEqual({
      changed: false,
      from: '5.8.2',
      to: '5.8.2',
    });
    expect(fleet.component('cp-config', 'gateway')).toMatchObject({ config: migrated, deployGeneration: 1 });

    // Rollback puts the version and the configuration back as the snapshot had them, once.
    expect(await platform.restore(gw, snapshot, noProgress, never())).toEqual({
      changed: true,
      from: '5.8.2',
      to: '5.3.4',
    });
    expect(fleet.component('cp-config', 'gateway')).toMatchObject({ version: '5.3.4', config: gatewayConfig });
    expect(await platform.restore(gw, snapshot, noProgress, never())).toMatchObject({ changed: false });
    expect(fleet.component('cp-config', 'gateway')!.deployGeneration).toBe(2);
  });

  it('a retry that arrives mid-rollout waits for the same rollout instead of starting another', async () => {
    const gw = ref('cp-config', 'gateway');
    const options = { configMigrations: migrations };
    const [first, second] = await Promise.all([
      platform.upgrade(gw, '5.8.2', noProgress, never(), options),
      sleep(ROLLOUT_MS / 3).then(() => platform.upgrade(gw, '5.8.2', noProgress, never(), options)),
    ]);
    expect(first).toEqual({ changed: true, from: '5.3.4', to: '5.8.2' });
    expect(second).toEqual({ changed: true, from: '5.3.4', to: '5.8.2' });
    expect(fleet.component('cp-config', 'gateway')).toMatchObject({ config: migrated, deployGeneration: 3 });
  });

  it('migrates a component already on the target version in a configuration-only rollout', async () => {
    const dp = ref('cp-config', 'dp-eu');
    await platform.upgrade(dp, '5.8.2', noProgress, never());
    await fetch(`${fleet.componentUrl('cp-config', 'dp-eu')}/deploy`, {
      method: 'POST',
      body: JSON.stringify({ version: '5.8.2', config: { hybrid: { enabled: false } } }),
    });
    await sleep(ROLLOUT_MS + 20);
    const result = await platform.upgrade(dp, '5.8.2', noProgress, never(), { configMigrations: migrations });
    expect(result).toEqual({ changed: true, from: '5.8.2', to: '5.8.2' });
    expect(fleet.component('cp-config', 'dp-eu')).toMatchObject({
      version: '5.8.2',
      config: { dten: { hybrid: { enable: true } } },
      deployGeneration: 3,
    });
  });

  it('keeps the old configuration when the rollout fails', async () => {
    const gw = ref('cp-broken', 'gateway');
    await expect(
      platform.upgrade(gw, '5.8.2', noProgress, never(), { configMigrations: migrations }),
    ).rejects.toBeInstanceOf(RolloutFailedError);
    expect(fleet.component('cp-broken', 'gateway')).toMatchObject({ version: '5.3.4', config: gatewayConfig });
  });

  it('fails without retry, and without deploying, when the configuration contradicts a migration', async () => {
    const dash = ref('cp-config', 'dashboard');
    await fetch(`${fleet.componentUrl('cp-config', 'dashboard')}/deploy`, {
      method: 'POST',
      body: JSON.stringify({ version: '5.3.4', config: { hybrid: { enabled: true }, dten: 3 } }),
    });
    await sleep(ROLLOUT_MS + 20);
    const generation = fleet.component('cp-config', 'dashboard')!.deployGeneration;
    const failure = platform.upgrade(dash, '5.8.2', noProgress, never(), { configMigrations: migrations });
    await expect(failure).rejects.toBeInstanceOf(RolloutFailedError);
    await expect(failure).rejects.toThrow(
      'dashboard of cp-config: cannot rename configuration key hybrid.enabled to dten.hybrid.enable ' +
        '(renamed in 5.8.0): dten is set to a value that is not an object',
    );
    expect(fleet.component('cp-config', 'dashboard')).toMatchObject({ version: '5.3.4', deployGeneration: generation });
  });

  it('refuses a deploy whose config is not an object', async () => {
    const res = await fetch(`${fleet.componentUrl('cp-config', 'dashboard')}/deploy`, {
      method: 'POST',
      body: JSON.stringify({ version: '5.8.2', config: ['a'] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'config: must be a JSON object of configuration keys' });
  });

  it('persists configurations, and seeds them for a state file written before they were kept', async () => {
    const stateFile = join(dir, 'config-state.json');
    const first = await startFleet({ inventory: configInventory, stateFile });
    await new SimulatedPlatform(first.baseUrl, { pollMs: 20 }).upgrade(
      ref('cp-config', 'gateway'),
      '5.8.2',
      noProgress,
      never(),
      { configMigrations: migrations },
    );
    await stop(first);
    const second = await startFleet({ inventory: configInventory, stateFile });
    expect(second.component('cp-config', 'gateway')).toMatchObject({ version: '5.8.2', config: migrated });
    await stop(second);

    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as { components: Record<string, unknown>[] };
    for (const c of saved.components) delete c.config;
    saved.components.push({ ...saved.components[0]!, controlPlaneId: 'cp-retired' }); // not in the inventory any more
    writeFileSync(stateFile, JSON.stringify({ format: 1, components: saved.components }));
    const third = await startFleet({ inventory: configInventory, stateFile });
    expect(third.component('cp-config', 'gateway')).toMatchObject({ version: '5.8.2', config: gatewayConfig });
    expect(third.component('cp-retired', 'dashboard')).toMatchObject({ config: {} });
    await stop(third);
  });
});

describe('SimulatedFleet state file', () => {
  it('survives a restart, mid-rollout too, and adds components new to the inventory', async () => {
    const stateFile = join(dir, 'restart', 'fleet-state.json');
    const first = await startFleet({ stateFile });
    expect(existsSync(stateFile)).toBe(true);
    const platform = new SimulatedPlatform(first.baseUrl, { pollMs: 20 });
    await platform.upgrade(ref('cp-plain', 'gateway'), '5.8.2', noProgress, never());

    // Start a rollout that takes longer, then stop the fleet while it runs.
    const deploy = await fetch(`${first.componentUrl('cp-faulty', 'dp-us')}/deploy`, {
      method: 'POST',
      body: JSON.stringify({ version: '5.8.2' }),
    });
    expect(deploy.status).toBe(202);
    const doneAt = first.component('cp-faulty', 'dp-us')!.rollout!.doneAt;
    await stop(first);
    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as {
      format: number;
      components: { componentId: string; controlPlaneId: string; version: string }[];
    };
    expect(saved.format).toBe(1);
    expect(saved.components.find((c) => c.controlPlaneId === 'cp-plain' && c.componentId === 'gateway')?.version).toBe(
      '5.8.2',
    );
    expect(readdirSync(join(dir, 'restart'))).toEqual(['fleet-state.json']); // no temp files left behind

    const grown = inventory([
      controlPlane('cp-plain', { dataPlanes: [{ id: 'dp-eu', version: '5.3.4' }] }),
      controlPlane('cp-faulty', {
        dataPlanes: [
          { id: 'dp-eu', version: '5.3.4' },
          { id: 'dp-us', version: '5.3.4' },
        ],
      }),
      controlPlane('cp-new', { gateway: { version: '5.0.1' } }),
    ]);
    const second = await startFleet({ stateFile, inventory: grown, rolloutMs: 10_000 });
    expect(second.component('cp-plain', 'gateway')).toMatchObject({
      version: '5.8.2',
      previousVersion: '5.3.4',
      deployGeneration: 1,
    });
    expect(second.component('cp-new', 'gateway')).toMatchObject({
      version: '5.0.1',
      initialVersion: '5.0.1',
      deployGeneration: 0,
    });
    // The rollout keeps its original deadline (not the new fleet's rolloutMs) and completes on time.
    const midway = second.component('cp-faulty', 'dp-us')!;
    expect(midway.version).toBe('5.3.4');
    expect(midway.rollout).toMatchObject({ toVersion: '5.8.2', doneAt });
    const secondPlatform = new SimulatedPlatform(second.baseUrl, { pollMs: 20 });
    expect(await secondPlatform.upgrade(ref('cp-faulty', 'dp-us'), '5.8.2', noProgress, never())).toEqual({
      changed: true,
      from: '5.3.4',
      to: '5.8.2',
    });
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(doneAt));
    await stop(second);

    const third = await startFleet({ stateFile, inventory: grown });
    expect(third.component('cp-faulty', 'dp-us')).toMatchObject({
      version: '5.8.2',
      rollout: null,
      deployGeneration: 1,
    });
    expect(third.state().components).toHaveLength(9);
    await stop(third);
  });

  it('settles a rollout that finished while no fleet was running', async () => {
    const stateFile = join(dir, 'settle.json');
    const first = await startFleet({ stateFile });
    await fetch(`${first.componentUrl('cp-plain', 'dashboard')}/deploy`, {
      method: 'POST',
      body: JSON.stringify({ version: '5.8.2' }),
    });
    await stop(first);
    await sleep(ROLLOUT_MS + 20);
    const second = await startFleet({ stateFile });
    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as {
      components: { componentId: string; controlPlaneId: string; version: string; rollout: unknown }[];
    };
    expect(
      saved.components.find((c) => c.controlPlaneId === 'cp-plain' && c.componentId === 'dashboard'),
    ).toMatchObject({
      version: '5.8.2',
      rollout: null,
    });
    expect(second.component('cp-plain', 'dashboard')?.lastRollout?.outcome).toBe('succeeded');
  });

  it('refuses a corrupt state file, naming it', async () => {
    const stateFile = join(dir, 'corrupt.json');
    writeFileSync(stateFile, '{"format":1,"components":[{"controlPlaneId":"cp-plain"}]}');
    await expect(startFleet({ stateFile })).rejects.toThrow(`simulated fleet state ${stateFile} is invalid`);
  });
});

describe('SimulatedFleet audit log', () => {
  it('records every deploy request (who asked, from/to, started or no-op) and every finished rollout', async () => {
    const auditLog = join(dir, 'audit.jsonl');
    const fleet = await startFleet({ auditLog });
    const platform = new SimulatedPlatform(fleet.baseUrl, { pollMs: 20 });
    const gw = ref('cp-faulty', 'dp-eu'); // upgrade-error: the rollout fails
    const dash = ref('cp-plain', 'dashboard');
    const by = {
      workflowId: 'control-plane/cp-plain',
      runId: 'run-1',
      activityType: 'upgradeComponent',
      attempt: 1,
      scheduledAt: '2026-12-03T02:00:00.000Z',
    };
    await platform.upgrade(dash, '5.8.2', noProgress, never(), { requestedBy: by });
    await platform.upgrade(dash, '5.8.2', noProgress, never(), { requestedBy: { ...by, attempt: 2 } });
    await expect(platform.upgrade(gw, '5.8.2', noProgress, never())).rejects.toThrow(RolloutFailedError);
    const snapshot = { component: dash, version: '5.3.4', takenAt: new Date().toISOString(), config: {} };
    await platform.restore(dash, snapshot, noProgress, never(), { requestedBy: { ...by, activityType: 'restore' } });
    // The same spec again, straight to the admin API: a no-op, recorded as one.
    await fetch(`${fleet.componentUrl('cp-plain', 'dashboard')}/deploy`, {
      method: 'POST',
      body: JSON.stringify({ version: '5.3.4' }),
    });
    await stop(fleet);

    const lines = readFileSync(auditLog, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const brief = lines.map((l) =>
      l.event === 'deploy'
        ? `${l.controlPlaneId}/${l.componentId} deploy ${l.from}->${l.to} ${l.result} by ${l.requestedBy?.activityType ?? '-'}#${l.requestedBy?.attempt ?? '-'}`
        : `${l.controlPlaneId}/${l.componentId} finished ${l.outcome} on ${l.version}`,
    );
    expect(brief).toEqual([
      'cp-plain/dashboard deploy 5.3.4->5.8.2 started by upgradeComponent#1',
      'cp-plain/dashboard finished succeeded on 5.8.2',
      // The retry (attempt 2) found the version running and asked for nothing.
      'cp-faulty/dp-eu deploy 5.3.4->5.8.2 started by -#-',
      'cp-faulty/dp-eu finished failed on 5.3.4',
      'cp-plain/dashboard deploy 5.8.2->5.3.4 started by restore#1',
      'cp-plain/dashboard finished succeeded on 5.3.4',
      'cp-plain/dashboard deploy 5.3.4->5.3.4 no-op by -#-',
    ]);
    expect(lines[0]).toMatchObject({ requestedBy: by, generation: 1, kind: 'dashboard', configChange: false });
    // A finished entry carries when the rollout finished, not when the fleet noticed.
    expect(Date.parse(lines[1].at) - Date.parse(lines[0].at)).toBeGreaterThanOrEqual(ROLLOUT_MS - 5);
  });

  it('refuses a deploy whose requestedBy is malformed, naming the field', async () => {
    const fleet = await startFleet();
    const res = await fetch(`${fleet.componentUrl('cp-plain', 'gateway')}/deploy`, {
      method: 'POST',
      body: JSON.stringify({ version: '5.8.2', requestedBy: { workflowId: 7 } }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain('requestedBy');
    await stop(fleet);
  });
});
