import { Context } from '@temporalio/activity';
import type { ComponentRef, ComponentSnapshot } from '../domain/model';
import type { ActivityDeps } from './deps';
import { translating } from './errors';
import type { PlatformChangeResult } from './ports';

export function deployActivities({ platform }: ActivityDeps) {
  const progress = (detail: Record<string, unknown>) => Context.current().heartbeat(detail);

  return {
    /** Records what rollback needs, before anything changes. */
    async snapshotComponents(components: ComponentRef[]): Promise<ComponentSnapshot[]> {
      return translating(() => Promise.all(components.map((c) => platform.snapshot(c))));
    },

    /** Rolls one component to the target version and waits for the rollout, heartbeating. Idempotent. */
    async upgradeComponent(input: { component: ComponentRef; targetVersion: string }): Promise<PlatformChangeResult> {
      return translating(() =>
        platform.upgrade(input.component, input.targetVersion, progress, Context.current().cancellationSignal),
      );
    },

    /** Puts one component back as its snapshot describes and waits for that rollout. Idempotent. */
    async restoreComponent(snapshot: ComponentSnapshot): Promise<PlatformChangeResult> {
      return translating(() =>
        platform.restore(snapshot.component, snapshot, progress, Context.current().cancellationSignal),
      );
    },
  };
}
