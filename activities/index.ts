import { assessActivities } from './assess';
import { controlPlaneActivities } from './controlPlanes';
import type { ActivityDeps } from './deps';
import { deployActivities } from './deploy';
import { fleetActivities } from './fleet';
import { healthActivities } from './health';
import { notifyActivities } from './notify';
import { scheduleActivities } from './schedule';

export type { ActivityDeps } from './deps';
export type { RolloutDirectoryPort, RunningRollout } from './fleet';
export type { MessengerPort } from './controlPlanes';

/** The object the worker registers: every activity, bound to its adapters. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...assessActivities(deps),
    ...scheduleActivities(deps),
    ...notifyActivities(deps),
    ...deployActivities(deps),
    ...healthActivities(deps),
    ...fleetActivities(deps),
    ...controlPlaneActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
