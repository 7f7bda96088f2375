import { ApplicationFailure, Context } from '@temporalio/activity';
import type { NoticeReceipt, NoticeRequest, SreAlert } from '../domain/model';
import { renderNotice } from '../domain/notices';
import type { ActivityDeps } from './deps';
import { NON_RETRYABLE, translating } from './errors';

/** What sendNotice heartbeats while the channel decides; a retried attempt resumes from it instead of sending again. */
export interface NoticeHeartbeat {
  deliveryId: string;
  status: string;
}

function lastDeliveryId(): string | undefined {
  const details = Context.current().info.heartbeatDetails as Partial<NoticeHeartbeat> | undefined;
  return typeof details?.deliveryId === 'string' && details.deliveryId ? details.deliveryId : undefined;
}

/** Server and worker clocks differ a little, and an event received just before an abort may still be acted on. */
const DEADLINE_MARGIN_MS = 2000;

/**
 * The latest instant (epoch ms) this activity attempt may still act: the earlier of its start-to-close and the
 * activity's schedule-to-close deadline, less a margin. Both come from the server's clock.
 */
export function attemptDeadline(info: {
  currentAttemptScheduledTimestampMs: number;
  startToCloseTimeoutMs: number;
  scheduledTimestampMs: number;
  scheduleToCloseTimeoutMs: number;
}): number | undefined {
  const deadlines = [
    info.startToCloseTimeoutMs > 0 ? info.currentAttemptScheduledTimestampMs + info.startToCloseTimeoutMs : Infinity,
    info.scheduleToCloseTimeoutMs > 0 ? info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs : Infinity,
  ];
  const first = Math.min(...deadlines);
  return Number.isFinite(first) ? first - DEADLINE_MARGIN_MS : undefined;
}

export function notifyActivities({ inventory, notifier, alerter }: ActivityDeps) {
  return {
    /**
     * Sends one notice for a control plane to its org admin, read from the inventory at send time (customers keep
     * that contact up to date), and returns once the channel's outcome is final (HubSpot decides asynchronously: the
     * adapter polls, and this activity heartbeats the send's id, so a retry looks the send up instead of resending).
     * Idempotent by `request.key`: a retry never emails twice.
     */
    async sendNotice(request: NoticeRequest): Promise<NoticeReceipt> {
      return translating(async () => {
        const record = await inventory.getControlPlane(request.controlPlaneId);
        if (!record)
          throw ApplicationFailure.nonRetryable(
            `cannot notify: control plane ${request.controlPlaneId} is not in the inventory`,
            NON_RETRYABLE.undeliverable,
          );
        const message = renderNotice(request, record.org, record.controlPlane);
        const ctx = Context.current();
        const resumeDeliveryId = lastDeliveryId();
        const delivery = await notifier.send(message, {
          progress: (detail: NoticeHeartbeat) => ctx.heartbeat(detail),
          signal: ctx.cancellationSignal,
          ...(resumeDeliveryId ? { resumeDeliveryId } : {}),
        });
        return {
          key: request.key,
          deliveredAt: new Date().toISOString(),
          duplicate: delivery.duplicate,
          channel: notifier.channel,
          ...(delivery.deliveryId ? { deliveryId: delivery.deliveryId } : {}),
          ...(delivery.result ? { result: delivery.result } : {}),
          ...(delivery.completedAt ? { completedAt: delivery.completedAt } : {}),
        };
      });
    },

    /**
     * Pages or informs on-call SREs. De-duplicated downstream by `alert.dedupKey`. Never sent after this attempt's
     * deadline: a trigger that arrived after its resolve would page again.
     */
    async alertSre(alert: SreAlert): Promise<void> {
      const ctx = Context.current();
      const notAfter = attemptDeadline(ctx.info);
      await translating(() =>
        alerter.alert(alert, { signal: ctx.cancellationSignal, ...(notAfter ? { notAfter } : {}) }),
      );
    },
  };
}
