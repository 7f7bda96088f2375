// integrations/temporalMessenger.ts against the real Temporal dev server (visibility, signal-with-start, describe,
// queries), with stand-in `controlPlane` / `fleetRollout` workflows (test fixtures: ./messengerWorkflows.ts).
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { Release } from '../../domain/release';
import { TemporalMessenger } from '../../integrations/temporalMessenger';
import { startFleetUpgrade } from '../../client/startFleet';
import { controlPlaneWorkflowId, fleetWorkflowId, type ReleaseOffer } from '../../workflows/messages';
import { ControlPlaneId, ReleaseId } from '../../workflows/searchAttributes';
import { devServerEnv } from '../helpers/temporalServers';
import { closedPort } from '../unit/integrations/fixtures';
import { finishSignal, grantsQuery, offersQuery, receivedQuery, withdrawalsQuery } from './messengerWorkflows';

const TASK_QUEUE = 'messenger';
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let messenger: TemporalMessenger;

function lts(version: string): Release {
  return {
    id: `lts-${version}`,
    kind: 'lts',
    targets: { dashboard: version, gateway: version },
    notesUrl: `https://tyk.io/docs/release-notes/${version}`,
  };
}
const R581 = lts('5.8.1');
const R582 = lts('5.8.2');
const R583 = lts('5.8.3');

function offerOf(release: Release): ReleaseOffer {
  return {
    release,
    fleet: { workflowId: fleetWorkflowId(release.id), wave: 'main' },
    source: 'fleet',
    offeredAt: new Date().toISOString(),
  };
}

/** Visibility is eventually consistent: retries `read` until `done` holds (or returns the last answer). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let i = 0; i < 50 && !done(value); i++) {
    await new Promise((r) => setTimeout(r, 200));
    value = await read();
  }
  return value;
}

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  env = await devServerEnv();
  worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: TASK_QUEUE,
    workflowsPath: require.resolve('./messengerWorkflows'),
  });
  running = worker.run();
  messenger = new TemporalMessenger(env.client, { taskQueue: TASK_QUEUE, offerConcurrency: 2 });
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

describe('offer', () => {
  it('starts control-plane/<id> with its metadata, and signals the one that runs on a second offer', async () => {
    expect(await messenger.offer(['cp-1', 'cp-2', 'cp-3'], offerOf(R582))).toEqual({
      offered: ['cp-1', 'cp-2', 'cp-3'],
      failed: [],
    });
    const handle = env.client.workflow.getHandle(controlPlaneWorkflowId('cp-1'));
    const first = await handle.describe();
    expect(first.type).toBe('controlPlane');
    expect(first.taskQueue).toBe(TASK_QUEUE);
    expect(first.typedSearchAttributes.get(ControlPlaneId)).toBe('cp-1');
    expect(await first.staticSummary()).toBe('Control plane cp-1');
    expect(await first.staticDetails()).toContain('`pause`');

    expect(await messenger.offer(['cp-1'], offerOf(R583))).toEqual({ offered: ['cp-1'], failed: [] });
    const offers = await eventually(
      () => handle.query(offersQuery),
      (o) => o.length === 2,
    );
    expect(offers.map((o) => o.release.id)).toEqual(['lts-5.8.2', 'lts-5.8.3']);
    expect(offers[0]).toMatchObject({ source: 'fleet', fleet: { workflowId: 'fleet/lts-5.8.2', wave: 'main' } });
    expect((await handle.describe()).runId).toBe(first.runId);
  });

  it('reports a bad id as failed without stopping the others', async () => {
    const tooLong = 'x'.repeat(1100); // the service rejects workflow ids over 1,000 characters
    const { offered, failed } = await messenger.offer(['cp-4', tooLong], offerOf(R582));
    expect(offered).toEqual(['cp-4']);
    expect(failed).toEqual([{ id: tooLong, error: expect.any(String) }]);
  });

  it('throws (so the activity retries) when the service cannot be reached for any of them', async () => {
    const connection = Connection.lazy({ address: `127.0.0.1:${await closedPort()}` });
    const unreachable = new TemporalMessenger(new Client({ connection }), { taskQueue: TASK_QUEUE });
    await expect(
      connection.withDeadline(Date.now() + 2000, () => unreachable.offer(['cp-x', 'cp-y'], offerOf(R582))),
    ).rejects.toThrow(/no offer delivered \(2 control planes\)/);
    await connection.close();
  });
});

describe('inspect', () => {
  it('tells missing, closed, busy and running control planes apart', async () => {
    await env.client.workflow.getHandle(controlPlaneWorkflowId('cp-2')).terminate('test');
    // No worker polls this task queue: its first workflow task stays pending.
    const stuck = new TemporalMessenger(env.client, { taskQueue: 'nobody-polls' });
    expect((await stuck.offer(['cp-stuck'], offerOf(R582))).offered).toEqual(['cp-stuck']);

    const [cp1, none, cp2, busy] = await messenger.inspect(['cp-1', 'cp-none', 'cp-2', 'cp-stuck']);
    expect(cp1).toMatchObject({
      controlPlaneId: 'cp-1',
      found: true,
      running: true,
      busy: false,
      status: { controlPlaneId: 'cp-1', pending: { releaseId: 'lts-5.8.3', fleetWorkflowId: 'fleet/lts-5.8.3' } },
    });
    expect(none).toEqual({ controlPlaneId: 'cp-none', found: false });
    expect(cp2).toEqual({
      controlPlaneId: 'cp-2',
      found: true,
      running: false,
      executionStatus: 'TERMINATED',
      closedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(busy).toEqual({
      controlPlaneId: 'cp-stuck',
      found: true,
      running: true,
      busy: true,
      why: 'a workflow task is pending (attempt 1)',
    });
    await env.client.workflow.getHandle(controlPlaneWorkflowId('cp-stuck')).terminate('test');
  });
});

describe('holding', () => {
  it('finds the running control planes whose ReleaseId is the release', async () => {
    // cp-1 moved on to 5.8.3; cp-2 (5.8.2) was terminated; cp-3 and cp-4 hold 5.8.2.
    const holding582 = await eventually(
      () => messenger.holding('lts-5.8.2'),
      (s) => s.size === 2,
    );
    expect([...holding582].sort()).toEqual(['cp-3', 'cp-4']);
    const holding583 = await eventually(
      () => messenger.holding('lts-5.8.3'),
      (s) => s.size === 1,
    );
    expect([...holding583]).toEqual(['cp-1']);
    const desc = await env.client.workflow.getHandle(controlPlaneWorkflowId('cp-1')).describe();
    expect(desc.typedSearchAttributes.get(ReleaseId)).toBe('lts-5.8.3');
    expect(await messenger.holding("it's-\\quoted")).toEqual(new Set());
  });
});

describe('withdraw', () => {
  const withdrawal = { releaseId: R582.id, supersededBy: R583.id, reason: 'superseded by lts-5.8.3', by: 'fleet' };

  it('signals the running control planes and counts closed and missing ones as gone', async () => {
    // cp-1 and cp-3 run; cp-2 was terminated (inspect above); cp-none never existed.
    expect(await messenger.withdraw(['cp-1', 'cp-2', 'cp-none', 'cp-3'], withdrawal)).toEqual({
      sent: ['cp-1', 'cp-3'],
      gone: ['cp-2', 'cp-none'],
    });
    for (const id of ['cp-1', 'cp-3']) {
      const withdrawals = await eventually(
        () => env.client.workflow.getHandle(controlPlaneWorkflowId(id)).query(withdrawalsQuery),
        (w) => w.length === 1,
      );
      expect(withdrawals).toEqual([withdrawal]);
    }
    expect(await messenger.withdraw([], withdrawal)).toEqual({ sent: [], gone: [] });
  });

  it('reports what the service refuses as failed, without throwing', async () => {
    // Over the dev server's 2 MB payload limit: refused for each running workflow (INVALID_ARGUMENT), not retryable.
    const huge = { ...withdrawal, reason: 'x'.repeat(3 * 1024 * 1024) };
    const result = await messenger.withdraw(['cp-1', 'cp-3'], huge);
    expect(result).toEqual({
      sent: [],
      gone: [],
      failed: [
        { id: 'cp-1', error: expect.stringMatching(/size/i) },
        { id: 'cp-3', error: expect.stringMatching(/size/i) },
      ],
    });
  });

  it('throws (so the activity retries) when the service cannot be reached for any of them', async () => {
    const connection = Connection.lazy({ address: `127.0.0.1:${await closedPort()}` });
    const unreachable = new TemporalMessenger(new Client({ connection }), { taskQueue: TASK_QUEUE });
    await expect(
      connection.withDeadline(Date.now() + 2000, () => unreachable.withdraw(['cp-x', 'cp-y'], withdrawal)),
    ).rejects.toThrow(/no withdrawal delivered \(2 control planes\)/);
    await connection.close();
  });
});

describe('grant', () => {
  const grant = { releaseId: R582.id, grantedAt: '2026-12-04T02:00:00.000Z' };

  it('signals the running control planes and counts closed and missing ones as gone', async () => {
    expect(await messenger.grant(['cp-1', 'cp-2', 'cp-none', 'cp-3'], grant)).toEqual({
      sent: ['cp-1', 'cp-3'],
      gone: ['cp-2', 'cp-none'],
    });
    for (const id of ['cp-1', 'cp-3']) {
      const grants = await eventually(
        () => env.client.workflow.getHandle(controlPlaneWorkflowId(id)).query(grantsQuery),
        (g) => g.length === 1,
      );
      expect(grants).toEqual([grant]);
    }
  });

  it('throws (so the activity retries) when the service cannot be reached for any of them', async () => {
    const connection = Connection.lazy({ address: `127.0.0.1:${await closedPort()}` });
    const unreachable = new TemporalMessenger(new Client({ connection }), { taskQueue: TASK_QUEUE });
    await expect(connection.withDeadline(Date.now() + 2000, () => unreachable.grant(['cp-x'], grant))).rejects.toThrow(
      /no slot grant delivered \(1 control planes\)/,
    );
    await connection.close();
  });
});

describe('signalFleet', () => {
  it('delivers reports, slot asks and returns to a running fleet, and says when it is closed or missing', async () => {
    await startFleetUpgrade(env.client, { taskQueue: TASK_QUEUE, release: R582 });
    const fleetId = fleetWorkflowId(R582.id);
    const report = {
      controlPlaneId: 'cp-3',
      releaseId: R582.id,
      outcome: 'completed' as const,
      changed: true,
      at: new Date().toISOString(),
    };
    const ask = { controlPlaneId: 'cp-4', releaseId: R582.id, until: new Date().toISOString() };
    expect(await messenger.signalFleet(fleetId, { kind: 'report', report })).toEqual({ delivered: true });
    expect(await messenger.signalFleet(fleetId, { kind: 'ask-slot', ask })).toEqual({ delivered: true });
    expect(
      await messenger.signalFleet(fleetId, { kind: 'return-slot', controlPlaneId: 'cp-4', releaseId: R582.id }),
    ).toEqual({ delivered: true });
    const handle = env.client.workflow.getHandle(fleetId);
    expect(await handle.query(receivedQuery)).toEqual([
      { signal: 'report', payload: report },
      { signal: 'ask-slot', payload: ask },
      { signal: 'return-slot', payload: { controlPlaneId: 'cp-4', releaseId: R582.id } },
    ]);

    await handle.signal(finishSignal, 'completed');
    await handle.result();
    expect(await messenger.signalFleet(fleetId, { kind: 'report', report })).toEqual({
      delivered: false,
      fleetStatus: 'COMPLETED',
    });
    expect(await messenger.signalFleet('fleet/never-started', { kind: 'ask-slot', ask })).toEqual({
      delivered: false,
      fleetStatus: 'NOT_FOUND',
    });
  });
});

describe('openReleases', () => {
  it('lists running and completed fleets from their memo, newest first, without cancelled or superseded ones', async () => {
    // fleet/lts-5.8.2 completed above. A copy of 5.8.3's release under another id starts before the real one.
    await env.client.workflow.start('fleetRollout', {
      workflowId: 'fleet/copy-of-lts-5.8.3',
      taskQueue: TASK_QUEUE,
      memo: { release: R583 },
    });
    await startFleetUpgrade(env.client, { taskQueue: TASK_QUEUE, release: R583 });
    await startFleetUpgrade(env.client, { taskQueue: TASK_QUEUE, release: R581 });
    const cancelled = env.client.workflow.getHandle(fleetWorkflowId(R581.id));
    await cancelled.signal(finishSignal, 'cancelled');
    await cancelled.result();
    // A fleet without the memo (started before it existed) is not offered.
    const bare = await env.client.workflow.start('fleetRollout', {
      workflowId: 'fleet/no-memo',
      taskQueue: TASK_QUEUE,
    });
    await bare.signal(finishSignal, 'completed');
    await bare.result();

    const open = await eventually(
      () => messenger.openReleases(),
      (o) => o.length === 2 && o[0]!.fleetWorkflowId === 'fleet/lts-5.8.3',
    );
    expect(open).toEqual([
      { release: R583, fleetWorkflowId: 'fleet/lts-5.8.3', running: true, startedAt: expect.any(String) },
      { release: R582, fleetWorkflowId: 'fleet/lts-5.8.2', running: false, startedAt: expect.any(String) },
    ]);
    expect(Date.parse(open[0]!.startedAt)).toBeGreaterThan(Date.parse(open[1]!.startedAt));
  });
});
