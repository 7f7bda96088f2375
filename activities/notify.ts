import { ApplicationFailure } from '@temporalio/activity';
import type { NoticeReceipt, NoticeRequest, SreAlert } from '../domain/model';
import { renderNotice } from '../domain/notices';
import type { ActivityDeps } from './deps';
import { NON_RETRYABLE, translating } from './errors';

export function notifyActivities({ inventory, notifier, alerter }: ActivityDeps) {
  return {
    /**
     * Sends one notice for a control plane to its org admin, read from the inventory at send time (customers keep
     * that contact up to date). Idempotent by `request.key`: a retry never emails twice.
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
        const { duplicate } = await notifier.send(message);
        return { key: request.key, deliveredAt: new Date().toISOString(), duplicate, channel: notifier.channel };
      });
    },

    /** Pages or informs on-call SREs. De-duplicated downstream by `alert.dedupKey`. */
    async alertSre(alert: SreAlert): Promise<void> {
      await translating(() => alerter.alert(alert));
    },
  };
}
