import { Context } from '@temporalio/activity';
import type { ComponentRef, ComponentSnapshot, ConfigMigration } from '../domain/model';
import type { ActivityDeps } from './deps';
import { translating } from './errors';
import type { ChangeRequester, PlatformChangeResult } from './ports';

/** The workflow and activity attempt asking for a change, as the platform may record it. */
function requester(): ChangeRequester | undefined {
  const info = Context.current().info;
  const execution = info.workflowExecution;
  if (!execution) return undefined; // a standalone activity
  return {
    workflowId: execution.workflowId,
    runId: execution.runId,
    activityType: info.activityType,
    attempt: info.attempt,
    scheduledAt: new Date(info.currentAttemptScheduledTimestampMs).toISOString(),
  };
}

export function deployActivities({ platform }: ActivityDeps) {
  const progress = (detail: Record<string, unknown>) => Context.current().heartbeat(detail);

  return {
    /** Records what rollback needs, before anything changes. */
    async snapshotComponents(components: ComponentRef[]): Promise<ComponentSnapshot[]> {
      return translating(() => Promise.all(components.map((c) => platform.snapshot(c))));
    },

    /**
     * Rolls one component to the target version, rewriting renamed configuration keys in the same rollout, and waits
     * for it, heartbeating. Idempotent (a retry neither migrates twice nor fails on keys already migrated).
     */
    async upgradeComponent(input: {
      component: ComponentRef;
      targetVersion: string;
      configMigrations?: ConfigMigration[];
    }): Promise<PlatformChangeResult> {
      const by = requester();
      const options = {
        ...(by ? { requestedBy: by } : {}),
        ...(input.configMigrations?.length ? { configMigrations: input.configMigrations } : {}),
      };
      return translating(() =>
        platform.upgrade(input.component, input.targetVersion, progress, Context.current().cancellationSignal, options),
      );
    },

    /** Puts one component back as its snapshot describes and waits for that rollout. Idempotent. */
    async restoreComponent(snapshot: ComponentSnapshot): Promise<PlatformChangeResult> {
      return translating(() =>
        platform.restore(snapshot.component, snapshot, progress, Context.current().cancellationSignal, {
          requestedBy: requester(),
        }),
      );
    },
  };
}
