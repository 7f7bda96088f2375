// End to end on a real, self-hosted Temporal cluster: Temporal Server 1.32 built from the Go module proxy, 4 history
// shards, persistence and SQL visibility on PostgreSQL, schema and search attributes set up as
// docker-compose.temporal.yml does it (test/helpers/temporalCluster.ts). Everything below runs on that cluster: the
// worker with the `npm run worker` wiring (simulated fleet over HTTP, outbox, alert log, the Temporal messenger), a
// release started through startFleetUpgrade, the fleet and control-plane workflows, the status queries, and the
// visibility queries an SRE types, answered by the PostgreSQL visibility store.
//
// Skipped (with the reason printed) when the server is not built; NIGHTSHIFT_REAL_TEMPORAL=required turns that into a
// failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig } from '../../config/config';
import { startFleetUpgrade } from '../../client/startFleet';
import { createWorkers, wireAdapters, type WorkerGroup, type Wiring } from '../../worker/worker';
import type { fleetRollout } from '../../workflows';
import { controlPlaneStatusQuery, controlPlaneWorkflowId, fleetStatusQuery } from '../../workflows/messages';
import { controlPlane, LTS_RELEASE, org } from '../helpers/fleetHarness';
import { realTemporalMode, startTemporalCluster, temporalClusterAvailability } from '../helpers/temporalCluster';
import type { TemporalCluster } from '../helpers/temporalCluster';

const availability = temporalClusterAvailability();
if (!availability.available) {
  if (realTemporalMode() === 'required') {
    test('the real Temporal cluster is available (NIGHTSHIFT_REAL_TEMPORAL=required)', () => {
      throw new Error(availability.why);
    });
  } else {
    console.warn(`[realCluster.test] skipped: ${availability.why}`);
  }
}
const describeReal = availability.available ? describe : describe.skip;

const TASK_QUEUE = 'real-cluster';
/** The fleet rollouts' own task queue, as loadConfig derives it (NIGHTSHIFT_FLEET_TASK_QUEUE unset). */
const FLEET_TASK_QUEUE = `${TASK_QUEUE}-fleet`;
/** One canary and three in the main wave, all with a window open now and no notice period (development tier). */
const FLEET = ['rc-canary', 'rc-1', 'rc-2', 'rc-3'];

describeReal('on a real Temporal cluster (Temporal Server on PostgreSQL)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-real-cluster-'));
  let cluster: TemporalCluster;
  let connection: Connection;
  let client: Client;
  let nativeConnection: NativeConnection;
  let wiring: Wiring;
  let worker: WorkerGroup;
  let running: Promise<void>;

  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    cluster = await startTemporalCluster();
    console.log(`[realCluster.test] Temporal Server ${cluster.version} up in ${cluster.startupMs} ms`);
    const inventory = path.join(dir, 'fleet.json');
    const controlPlanes = FLEET.map((id) => controlPlane(id, id === 'rc-canary' ? { labels: ['canary'] } : {}));
    fs.writeFileSync(inventory, JSON.stringify({ orgs: [org()], controlPlanes }));
    const config = loadConfig({
      TEMPORAL_ADDRESS: cluster.address,
      TEMPORAL_NAMESPACE: cluster.namespace,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      NIGHTSHIFT_INVENTORY: inventory,
      NIGHTSHIFT_SIM_STATE: path.join(dir, 'state.json'),
      NIGHTSHIFT_SIM_ROLLOUT_MS: '200',
      NIGHTSHIFT_OUTBOX: path.join(dir, 'outbox.jsonl'),
      NIGHTSHIFT_ALERT_LOG: path.join(dir, 'alerts.jsonl'),
      NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT: '0',
      NIGHTSHIFT_VERIFY_PASSES: '2',
      NIGHTSHIFT_VERIFY_INTERVAL_MS: '100',
      NIGHTSHIFT_VERIFY_SOAK_MS: '100',
      NIGHTSHIFT_VERIFY_TIMEOUT_MS: '5000',
      NIGHTSHIFT_TYK_CHECK_DURATION_MS: '100',
    });
    wiring = await wireAdapters(config, () => undefined);
    nativeConnection = await NativeConnection.connect({ address: cluster.address });
    worker = await createWorkers({
      connection: nativeConnection,
      namespace: cluster.namespace,
      taskQueue: TASK_QUEUE,
      fleetTaskQueue: FLEET_TASK_QUEUE,
      deps: wiring.deps,
    });
    running = worker.run();
    connection = await Connection.connect({ address: cluster.address });
    client = new Client({ connection, namespace: cluster.namespace });
  }, 180_000);

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await wiring?.close();
    await connection?.close();
    await nativeConnection?.close();
    await cluster?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('is the self-hosted server on PostgreSQL, with several history shards', async () => {
    const info = await connection.workflowService.getClusterInfo({});
    expect(info.serverVersion).toBe(cluster.version.replace(/^v/, ''));
    expect(info.persistenceStore).toBe('postgres12');
    expect(info.visibilityStore).toContain('postgres12');
    expect(info.historyShardCount).toBe(4);
  });

  it('rolls a release out to the fleet, answers the status queries, and finds the workflows by search attribute', async () => {
    const hello = async (cp: string): Promise<{ version: string }> =>
      (await (await fetch(`${wiring.fleet!.baseUrl}/cp/${cp}/gateway/hello`)).json()) as { version: string };
    for (const cp of FLEET) expect(await hello(cp)).toMatchObject({ version: 'v5.3.4' });

    const started = await startFleetUpgrade(client, {
      taskQueue: FLEET_TASK_QUEUE,
      release: LTS_RELEASE,
      rollout: { canary: { labels: ['canary'] }, bakeMinutes: 0 },
      requestedBy: 'realCluster.test',
    });
    expect(started.result).toBe('started');
    const fleet = client.workflow.getHandle<typeof fleetRollout>(started.workflowId);
    // The fleet runs on its own task queue and worker; the control planes it offers the release to on the main one.
    expect((await fleet.describe()).taskQueue).toBe(FLEET_TASK_QUEUE);
    const result = await fleet.result();
    expect(result.outcome).toBe('completed');
    expect(result.status.outcomes).toEqual({ completed: FLEET.length });
    expect(result.status.waves.canary).toMatchObject({ started: 1, finished: 1, failed: 0 });
    expect(result.status.waves.main).toMatchObject({
      started: FLEET.length - 1,
      finished: FLEET.length - 1,
      failed: 0,
    });

    // The control planes reached the target, and each workflow answers its status query.
    for (const cp of FLEET) {
      expect(await hello(cp)).toMatchObject({ version: 'v5.8.2' });
      const cpHandle = client.workflow.getHandle(controlPlaneWorkflowId(cp));
      expect((await cpHandle.describe()).taskQueue).toBe(TASK_QUEUE);
      // The fleet completes on reports, which come before each attempt's completion email and its record: wait.
      let status = await cpHandle.query(controlPlaneStatusQuery);
      for (let i = 0; status.state !== 'idle' && i < 150; i++) {
        await new Promise((r) => setTimeout(r, 200));
        status = await cpHandle.query(controlPlaneStatusQuery);
      }
      expect(status).toMatchObject({ controlPlaneId: cp, state: 'idle', installed: { gateway: '5.8.2' } });
      expect(status.recent.map((r) => r.outcome)).toEqual(['completed']);
    }
    // The closed fleet workflow still answers its query (replayed by the worker from the PostgreSQL history).
    expect(await fleet.query(fleetStatusQuery)).toMatchObject({ outcomes: { completed: FLEET.length } });
    // A second start of the same release finds the finished rollout instead of starting another.
    const again = await startFleetUpgrade(client, { taskQueue: FLEET_TASK_QUEUE, release: LTS_RELEASE });
    expect(again).toMatchObject({ result: 'already-finished', status: 'COMPLETED' });

    // SQL visibility (eventually consistent): the queries an SRE types in the UI, on custom search attributes.
    const list = async (query: string): Promise<string[]> => {
      let found: string[] = [];
      for (let i = 0; i < 50; i++) {
        found = [];
        for await (const wf of client.workflow.list({ query })) found.push(wf.workflowId);
        if (found.length > 0) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      return found.sort();
    };
    const ids = FLEET.map((cp) => `'${cp}'`).join(', ');
    expect(
      await list(
        `WorkflowType = 'controlPlane' AND ExecutionStatus = 'Running' AND UpgradeStage = 'idle' AND ControlPlaneId IN (${ids})`,
      ),
    ).toEqual(FLEET.map(controlPlaneWorkflowId).sort());
    expect(await list(`ReleaseId = 'lts-5.8.2' AND ExecutionStatus = 'Completed'`)).toEqual([started.workflowId]);
    const { count } = await client.workflow.count(
      `WorkflowType = 'controlPlane' AND ExecutionStatus = 'Running' AND OrgId = 'org-acme'`,
    );
    expect(count).toBe(FLEET.length);
  });
});
