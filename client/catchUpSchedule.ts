// The Temporal Schedule that runs the catch-up workflow (workflows/catchUp.ts): created or brought up to date by
// `npm run sre -- schedule` and by a worker's setup, deleted by `npm run sre -- schedule --delete`. Idempotent: the
// same call twice changes nothing, and a paused schedule stays paused.
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptionsAction,
  type ScheduleSpec,
} from '@temporalio/client';
import { parseMinutes } from '../config/duration';

export const CATCH_UP_SCHEDULE_ID = 'nightshift-catch-up';
export const CATCH_UP_WORKFLOW_TYPE = 'catchUp';
/** One id for every run: with overlap SKIP and this id, two catch-ups never run at once. */
export const CATCH_UP_WORKFLOW_ID = 'catch-up';
export const CATCH_UP_EVERY_DEFAULT = '1h';

export interface CatchUpScheduleOptions {
  taskQueue: string;
  /** How often: a duration such as `30m`, `1h`, `1d` (a bare number is minutes); at least a minute. Default `1h`. */
  every?: string;
}

export interface CatchUpScheduleResult {
  scheduleId: string;
  result: 'created' | 'updated' | 'unchanged';
  everyMinutes: number;
}

/** `--every`: the interval in minutes, or a message saying what is wrong with it. */
export function catchUpInterval(every: string): number | string {
  const minutes = parseMinutes(every);
  if (minutes === undefined) return 'not a duration such as 30m, 1h or 1d';
  if (minutes < 1) return 'at least 1m';
  if (!Number.isInteger(minutes * 60)) return 'whole seconds only';
  return minutes;
}

function action(taskQueue: string): ScheduleOptionsAction {
  return {
    type: 'startWorkflow',
    workflowType: CATCH_UP_WORKFLOW_TYPE,
    workflowId: CATCH_UP_WORKFLOW_ID,
    taskQueue,
    args: [],
    staticSummary: 'Catch-up: offer open releases to control planes that should have them',
  };
}

/** Whether the schedule already does what `spec`, `taskQueue` and SKIP ask (then nothing is sent). */
function matches(prev: ScheduleDescription, everyMs: number, taskQueue: string): boolean {
  const spec = prev.spec;
  const interval = spec.intervals?.length === 1 ? spec.intervals[0]! : undefined;
  const onlyInterval = !spec.calendars?.length && !spec.skip?.length && interval !== undefined;
  return (
    onlyInterval &&
    interval.every === everyMs &&
    !interval.offset &&
    prev.action.type === 'startWorkflow' &&
    prev.action.workflowType === CATCH_UP_WORKFLOW_TYPE &&
    prev.action.workflowId === CATCH_UP_WORKFLOW_ID &&
    prev.action.taskQueue === taskQueue &&
    (prev.action.args ?? []).length === 0 &&
    prev.policies.overlap === ScheduleOverlapPolicy.SKIP
  );
}

/** Creates the catch-up schedule, or updates it (interval, task queue, action, overlap SKIP) when it exists. */
export async function ensureCatchUpSchedule(
  client: Client,
  opts: CatchUpScheduleOptions,
): Promise<CatchUpScheduleResult> {
  const every = opts.every ?? CATCH_UP_EVERY_DEFAULT;
  const everyMinutes = catchUpInterval(every);
  if (typeof everyMinutes === 'string')
    throw new RangeError(`catch-up interval ${JSON.stringify(every)}: ${everyMinutes}`);
  const everyMs = Math.round(everyMinutes * 60_000);
  const spec: ScheduleSpec = { intervals: [{ every: everyMs }] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP };
  const scheduleId = CATCH_UP_SCHEDULE_ID;
  try {
    await client.schedule.create({ scheduleId, spec, action: action(opts.taskQueue), policies });
    return { scheduleId, result: 'created', everyMinutes };
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(scheduleId);
  if (matches(await handle.describe(), everyMs, opts.taskQueue))
    return { scheduleId, result: 'unchanged', everyMinutes };
  // Everything else (paused or not, its note, the catch-up window) stays as the schedule has it.
  await handle.update((prev) => ({
    ...prev,
    spec,
    action: action(opts.taskQueue),
    policies: { ...prev.policies, ...policies },
  }));
  return { scheduleId, result: 'updated', everyMinutes };
}

/** Deletes the catch-up schedule; false when there was none. Catch-up runs already started finish. */
export async function deleteCatchUpSchedule(client: Client): Promise<boolean> {
  try {
    await client.schedule.getHandle(CATCH_UP_SCHEDULE_ID).delete();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}

/**
 * A worker's setup: creates the schedule with the default interval when there is none, and leaves an existing one as
 * an SRE set it (`npm run sre -- schedule --every ...`). Returns what it did.
 */
export async function ensureCatchUpScheduleExists(
  client: Client,
  opts: CatchUpScheduleOptions,
): Promise<CatchUpScheduleResult | 'exists'> {
  try {
    await client.schedule.getHandle(CATCH_UP_SCHEDULE_ID).describe();
    return 'exists';
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
  return ensureCatchUpSchedule(client, opts);
}
