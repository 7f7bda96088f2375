import { assessActivities } from './assess';
import type { ActivityDeps } from './deps';
import { deployActivities } from './deploy';
import { healthActivities } from './health';
import { notifyActivities } from './notify';
import { scheduleActivities } from './schedule';

export type { ActivityDeps } from './deps';

/** The object the worker registers: every activity, bound to its adapters. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...assessActivities(deps),
    ...scheduleActivities(deps),
    ...notifyActivities(deps),
    ...deployActivities(deps),
    ...healthActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
