// The release path end to end on the real dev server: a signed release event hits the webhook, which starts the
// fleet rollout; a duplicate delivery starts nothing; a bad signature starts nothing; the fleet upgrades a few
// hundred control planes through children, continuing as new while they run. Then a newer release supersedes an
// older rollout found through real visibility queries.
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import type { Release } from '../../domain/release';
import { signReleaseEvent, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../integrations/releaseEventAuth';
import { createWebhookServer } from '../../integrations/webhookServer';
import { loadConfig } from '../../workers/config';
import { startFleetUpgrade } from '../../workers/startFleet';
import { createWorker, wireAdapters, type Wiring } from '../../workers/worker';
import type { fleetUpgrade } from '../../workflows';
import { fleetStatusQuery, fleetWorkflowId, statusQuery, upgradeWorkflowId } from '../../workflows/messages';
import { controlPlane, org } from '../helpers/fleetHarness';
import { devServerEnv } from '../helpers/temporalServers';

const TASK_QUEUE = 'fleet-e2e';
const SECRET = 'test-secret-0123456789abcdef';
const FLEET_SIZE = 240;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-fleet-e2e-'));
let env: TestWorkflowEnvironment;
let wiring: Wiring;
let worker: Worker;
let running: Promise<void>;
let webhook: http.Server;
let webhookUrl: string;
const webhookLog: string[] = [];

const prodOn582 = (id: string) =>
  controlPlane(id, {
    tier: 'production',
    dataPlanes: [],
    dashboard: { version: '5.8.2' },
    gateway: { version: '5.8.2' },
  });
const ids = Array.from({ length: FLEET_SIZE }, (_, i) => `cp-${String(i + 1).padStart(3, '0')}`);

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  env = await devServerEnv();
  const inventory = path.join(dir, 'fleet.json');
  const cps = ids.map((id) => controlPlane(id, { dataPlanes: [] }));
  // Already current for the first release; production tier, so their security notice makes them wait a day.
  for (const id of ['prod-a', 'prod-b']) cps.push(prodOn582(id));
  fs.writeFileSync(inventory, JSON.stringify({ orgs: [org()], controlPlanes: cps }));
  const config = loadConfig({
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
    NIGHTSHIFT_INVENTORY: inventory,
    NIGHTSHIFT_SIM_STATE: path.join(dir, 'state.json'),
    NIGHTSHIFT_SIM_ROLLOUT_MS: '0',
    NIGHTSHIFT_OUTBOX: path.join(dir, 'outbox.jsonl'),
    NIGHTSHIFT_ALERT_LOG: path.join(dir, 'alerts.jsonl'),
    NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT: '0',
    NIGHTSHIFT_VERIFY_PASSES: '1',
    NIGHTSHIFT_VERIFY_INTERVAL_MS: '10',
    NIGHTSHIFT_VERIFY_SOAK_MS: '0',
    NIGHTSHIFT_VERIFY_TIMEOUT_MS: '5000',
  });
  wiring = await wireAdapters(config, () => undefined);
  worker = await createWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: TASK_QUEUE,
    deps: wiring.deps,
    extra: { maxConcurrentWorkflowTaskExecutions: 50, maxConcurrentActivityTaskExecutions: 100 },
  });
  running = worker.run();
  webhook = createWebhookServer({
    secrets: [SECRET],
    start: (release) => startFleetUpgrade(env.client, { taskQueue: TASK_QUEUE, release }),
    log: (line) => webhookLog.push(line),
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/release-events`;
});

afterAll(async () => {
  await new Promise((resolve) => webhook?.close(resolve));
  worker?.shutdown();
  await running;
  await wiring?.close();
  await env?.teardown();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function deliver(event: unknown, secret = SECRET): Promise<{ status: number; body: Record<string, unknown> }> {
  const body = JSON.stringify(event);
  const ts = Math.floor(Date.now() / 1000);
  const res = await fetch(webhookUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [TIMESTAMP_HEADER]: String(ts),
      [SIGNATURE_HEADER]: signReleaseEvent(secret, ts, body),
    },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function release(
  id: string,
  version: string,
  rollout: Record<string, unknown>,
  affected?: string,
): Record<string, unknown> {
  return {
    id,
    kind: affected ? 'security' : 'lts',
    ...(affected ? { affected } : {}),
    targets: { dashboard: version, gateway: version },
    notesUrl: `https://tyk.io/docs/release-notes/${version}`,
    rollout,
  };
}

async function notFound(workflowId: string): Promise<boolean> {
  return env.client.workflow
    .getHandle(workflowId)
    .describe()
    .then(
      () => false,
      (err: Error) => /not found/i.test(err.message),
    );
}

describe('release event → webhook → fleetUpgrade → controlPlaneUpgrade (dev server)', () => {
  it(`rolls out to ${FLEET_SIZE} control planes once, however often the event arrives`, async () => {
    const event = release('lts-5.8.2', '5.8.2', {
      canary: { controlPlaneIds: ['cp-001', 'cp-002', 'cp-003'] },
      bakeMinutes: 0,
      maxConcurrent: 25,
      pageSize: 50,
      continueAsNewAfterEvents: 500,
    });
    const forged = await deliver({ ...event, id: 'lts-5.8.2-forged' }, 'not-the-secret-at-all-000');
    expect(forged.status).toBe(401);
    expect(await notFound(fleetWorkflowId('lts-5.8.2-forged'))).toBe(true);

    const [first, second] = await Promise.all([deliver(event), deliver(event)]);
    expect([first.status, second.status].sort()).toEqual([200, 202]);
    expect(first.body.workflowId).toBe('fleet/lts-5.8.2');
    expect(second.body.workflowId).toBe('fleet/lts-5.8.2');
    expect([first.body.result, second.body.result].sort()).toEqual(['already-running', 'started']);
    expect(webhookLog.some((l) => l.includes(' 401 '))).toBe(true);

    const handle = env.client.workflow.getHandle<typeof fleetUpgrade>(fleetWorkflowId('lts-5.8.2'));
    const result = await handle.result();
    expect(result.outcome).toBe('completed');
    const s = result.status;
    expect(s.eligibility).toEqual({
      listed: FLEET_SIZE + 2,
      eligible: FLEET_SIZE,
      skipped: { 'already-at-target': 2 },
    });
    expect(s.waves.canary).toMatchObject({ started: 3, finished: 3 });
    expect(s.waves.main).toMatchObject({ started: FLEET_SIZE - 3, finished: FLEET_SIZE - 3 });
    expect(s.outcomes).toEqual({ completed: FLEET_SIZE });
    expect(s.runs).toBeGreaterThanOrEqual(1);
    // Histories stay bounded: no run grew far beyond the continue-as-new threshold.
    expect(s.maxHistoryLength).toBeLessThan(1500);

    // Delivered again after the rollout finished: still nothing new.
    const late = await deliver(event);
    expect(late.status).toBe(200);
    expect(late.body.result).toBe('already-finished');

    for (const id of ['cp-001', 'cp-120', `cp-${FLEET_SIZE}`]) {
      const st = await env.client.workflow.getHandle(upgradeWorkflowId(id, 'lts-5.8.2')).query(statusQuery);
      expect(st.outcome).toBe('completed');
      expect(st.versionsNow.gateway).toBe('5.8.2');
    }
  });

  it('a newer release of the same line supersedes the older rollout found through visibility', async () => {
    fs.writeFileSync(
      path.join(dir, 'fleet.json'),
      JSON.stringify({ orgs: [org()], controlPlanes: ['prod-a', 'prod-b'].map(prodOn582) }),
    );
    const older = await startFleetUpgrade(env.client, {
      taskQueue: TASK_QUEUE,
      release: release(
        'sec-5.8.3',
        '5.8.3',
        { bakeMinutes: 0, canary: { labels: [] } },
        '>=5.8.0 <5.8.3',
      ) as unknown as Release,
    });
    expect(older.result).toBe('started');
    const olderHandle = env.client.workflow.getHandle<typeof fleetUpgrade>(older.workflowId);
    for (let i = 0; (await olderHandle.query(fleetStatusQuery)).inFlight.waitingForWindow < 2; i++) {
      if (i > 200) throw new Error('older rollout never had both children waiting');
      await new Promise((r) => setTimeout(r, 50));
    }
    const newer = await startFleetUpgrade(env.client, {
      taskQueue: TASK_QUEUE,
      release: release(
        'sec-5.8.4',
        '5.8.4',
        { bakeMinutes: 0, canary: { labels: [] } },
        '>=5.8.0 <5.8.4',
      ) as unknown as Release,
    });
    const olderResult = await olderHandle.result();
    expect(olderResult.outcome).toBe('superseded');
    expect(olderResult.status.supersededBy).toBe('sec-5.8.4');
    expect(olderResult.status.outcomes).toEqual({ superseded: 2 });

    const newerHandle = env.client.workflow.getHandle<typeof fleetUpgrade>(newer.workflowId);
    const child = env.client.workflow.getHandle(upgradeWorkflowId('prod-a', 'sec-5.8.4'));
    for (let i = 0; ; i++) {
      const st = await child.query(statusQuery).catch(() => undefined);
      if (st?.stage === 'waiting-for-window') {
        expect(st.changes.map((c) => `${c.component.id} ${c.from}→${c.to}`)).toEqual([
          'dashboard 5.8.2→5.8.4',
          'gateway 5.8.2→5.8.4',
        ]);
        break;
      }
      if (i > 200) throw new Error('newer rollout never scheduled prod-a');
      await new Promise((r) => setTimeout(r, 50));
    }
    await newerHandle.cancel();
    expect((await newerHandle.result()).outcome).toBe('cancelled');
  });
});
