import type { UpgradePolicy } from '../domain/policy';
import type { MessengerPort } from './controlPlanes';
import type { RolloutDirectoryPort } from './fleet';
import type { AlerterPort, HealthPort, InventoryPort, NotifierPort, PlatformPort } from './ports';

/** Everything the activities need, wired by the worker from configuration. */
export interface ActivityDeps {
  inventory: InventoryPort;
  platform: PlatformPort;
  health: HealthPort;
  notifier: NotifierPort;
  alerter: AlerterPort;
  policy: UpgradePolicy;
  /** Finds running fleet rollouts (to supersede older ones); without it nothing is superseded. */
  rollouts?: RolloutDirectoryPort;
  /** Offers releases to the control-plane workflows and carries their messages to the fleet rollouts (Temporal). */
  messenger?: MessengerPort;
}
