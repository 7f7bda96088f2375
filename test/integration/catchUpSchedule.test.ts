// client/catchUpSchedule.ts against the real dev server: the Schedule `nightshift-catch-up` is created once, left
// alone when it already matches, updated in place (keeping an SRE's pause), and deleted.
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  CATCH_UP_SCHEDULE_ID,
  deleteCatchUpSchedule,
  ensureCatchUpSchedule,
  ensureCatchUpScheduleExists,
} from '../../client/catchUpSchedule';
import { devServerEnv } from '../helpers/temporalServers';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await devServerEnv();
});

afterAll(async () => {
  await env?.teardown();
});

describe('catch-up schedule', () => {
  it('is created, left alone when equal, updated in place, and deleted', async () => {
    const handle = env.client.schedule.getHandle(CATCH_UP_SCHEDULE_ID);
    expect(await ensureCatchUpSchedule(env.client, { taskQueue: 'tq-a' })).toEqual({
      scheduleId: CATCH_UP_SCHEDULE_ID,
      result: 'created',
      everyMinutes: 60,
    });
    const created = await handle.describe();
    expect(created.spec.intervals?.map((i) => [i.every, i.offset ?? 0])).toEqual([[3_600_000, 0]]);
    expect(created.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'catchUp',
      workflowId: 'catch-up',
      taskQueue: 'tq-a',
      args: [],
    });
    expect(created.policies.overlap).toBe('SKIP');

    expect((await ensureCatchUpSchedule(env.client, { taskQueue: 'tq-a', every: '1h' })).result).toBe('unchanged');
    expect(await ensureCatchUpScheduleExists(env.client, { taskQueue: 'tq-b' })).toBe('exists');

    await handle.pause('paused by an SRE');
    expect(await ensureCatchUpSchedule(env.client, { taskQueue: 'tq-b', every: '30m' })).toEqual({
      scheduleId: CATCH_UP_SCHEDULE_ID,
      result: 'updated',
      everyMinutes: 30,
    });
    const updated = await handle.describe();
    expect(updated.spec.intervals?.map((i) => [i.every, i.offset ?? 0])).toEqual([[1_800_000, 0]]);
    expect(updated.action).toMatchObject({ workflowType: 'catchUp', workflowId: 'catch-up', taskQueue: 'tq-b' });
    expect(updated.policies.overlap).toBe('SKIP');
    expect(updated.state).toMatchObject({ paused: true, note: 'paused by an SRE' });
    expect((await ensureCatchUpSchedule(env.client, { taskQueue: 'tq-b', every: '30m' })).result).toBe('unchanged');

    expect(await deleteCatchUpSchedule(env.client)).toBe(true);
    expect(await deleteCatchUpSchedule(env.client)).toBe(false);
    expect(await ensureCatchUpScheduleExists(env.client, { taskQueue: 'tq-c' })).toMatchObject({ result: 'created' });
  });

  it('refuses an interval under a minute', async () => {
    await expect(ensureCatchUpSchedule(env.client, { taskQueue: 'tq', every: '30s' })).rejects.toThrow(
      'catch-up interval "30s": at least 1m',
    );
  });
});
