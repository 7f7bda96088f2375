import { assessActivities } from './assess';
import type { ActivityDeps } from './deps';
import { deployActivities } from './deploy';
import { fleetActivities } from './fleet';
import { healthActivities } from './health';
import { notifyActivities } from './notify';
import { scheduleActivities } from './schedule';

export type { ActivityDeps } from './deps';
export type { RolloutDirectoryPort, RunningRollout } from './fleet';

/** The object the worker registers: every activity, bound to its adapters. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...assessActivities(deps),
    ...scheduleActivities(deps),
    ...notifyActivities(deps),
    ...deployActivities(deps),
    ...healthActivities(deps),
    ...fleetActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
