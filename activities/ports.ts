// The ports the activities depend on. Adapters in integrations/ implement them: a simulated fleet, an outbox and a
// file inventory for the embedded default; Kubernetes, HubSpot and webhooks in production.
import type { ControlPlane, Org } from '../domain/inventory';
import type {
  ComponentRef,
  ComponentSnapshot,
  ConfigMigration,
  EmailMessage,
  HealthReport,
  SreAlert,
} from '../domain/model';

export type { EmailMessage };

export interface ControlPlaneRecord {
  controlPlane: ControlPlane;
  org: Org;
}

export interface InventoryPage {
  items: ControlPlaneRecord[];
  /** Opaque cursor for the next page; absent on the last page. */
  nextCursor?: string;
}

export interface InventoryPort {
  /** The control plane as it is now (customers edit windows, opt-in and versions at any time), or undefined. */
  getControlPlane(controlPlaneId: string): Promise<ControlPlaneRecord | undefined>;
  listControlPlanes(page: { cursor?: string; limit: number }): Promise<InventoryPage>;
}

/** Progress callback: activities turn it into a heartbeat. */
export type Progress = (detail: Record<string, unknown>) => void;

export interface PlatformChangeResult {
  /** False when the component already ran the wanted version/state (an idempotent retry). */
  changed: boolean;
  from: string;
  to: string;
}

/** Who asked for a change: the workflow and activity attempt (platforms may record it; the simulated fleet audits it). */
export interface ChangeRequester {
  workflowId: string;
  runId: string;
  activityType: string;
  attempt: number;
  /**
   * When the server scheduled this attempt (ISO, server time: on a time-skipping test server this is the workflow's
   * clock, which the windows are planned in, while the platform's own clock is real time).
   */
  scheduledAt: string;
}

export interface ChangeOptions {
  requestedBy?: ChangeRequester;
}

export interface UpgradeOptions extends ChangeOptions {
  /**
   * Renamed configuration keys to rewrite in the same rollout as the version change (see domain/compatibility.ts).
   * Applying them is idempotent: a key already renamed is left alone.
   */
  configMigrations?: ConfigMigration[];
}

export interface PlatformPort {
  readonly name: string;
  /** The version the platform runs now (its source of truth, e.g. the Deployment's image tag). */
  currentVersion(component: ComponentRef): Promise<string>;
  /** Everything rollback needs to restore this component: its version and, where the platform manages it, config. */
  snapshot(component: ComponentRef): Promise<ComponentSnapshot>;
  /**
   * Moves the component to `targetVersion` (and applies `options.configMigrations`) and waits until the rollout has
   * finished. Idempotent.
   */
  upgrade(
    component: ComponentRef,
    targetVersion: string,
    progress: Progress,
    signal: AbortSignal,
    options?: UpgradeOptions,
  ): Promise<PlatformChangeResult>;
  /** Puts the component back as in the snapshot (version, and config when it has one) and waits. Idempotent. */
  restore(
    component: ComponentRef,
    snapshot: ComponentSnapshot,
    progress: Progress,
    signal: AbortSignal,
    options?: ChangeOptions,
  ): Promise<PlatformChangeResult>;
}

export interface HealthPort {
  /** One probe of the component's health endpoint (Tyk /hello). Never throws: failures are reports. */
  probe(component: ComponentRef, signal?: AbortSignal): Promise<HealthReport>;
}

/** What a channel says about one message once its outcome is final. */
export interface NoticeDelivery {
  /** True when an earlier attempt had already sent it (nothing sent twice). */
  duplicate: boolean;
  /** The channel's own id of this send, e.g. HubSpot's statusId. */
  deliveryId?: string;
  /** The channel's final result, e.g. HubSpot's sendResult `SENT`. */
  result?: string;
  /** When the channel says the send completed (ISO), if it says. */
  completedAt?: string;
}

export interface SendOptions {
  /**
   * Called while the channel is still deciding (an asynchronous send being polled). The sendNotice activity turns it
   * into a heartbeat; a retried attempt gets the last `deliveryId` back as `resumeDeliveryId`.
   */
  progress?: (detail: { deliveryId: string; status: string }) => void;
  /** Aborts the send or the wait for its outcome (the activity was cancelled or timed out). */
  signal?: AbortSignal;
  /** An earlier attempt's deliveryId: find out how that send ended instead of sending again. */
  resumeDeliveryId?: string;
}

export interface NotifierPort {
  readonly channel: string;
  /**
   * Sends one message and resolves once its outcome is final: delivered (or already delivered), or a rejection
   * (RequestRejectedError). Idempotent by `message.key`.
   */
  send(message: EmailMessage, options?: SendOptions): Promise<NoticeDelivery>;
}

export interface AlertOptions {
  /**
   * Epoch ms after which this alert must not be sent any more (the activity attempt's deadline): a late trigger
   * arriving after its resolve would open a new incident. Also the latest the request may still be in flight.
   */
  notAfter?: number;
  signal?: AbortSignal;
}

export interface AlerterPort {
  readonly channel: string;
  alert(alert: SreAlert, options?: AlertOptions): Promise<void>;
}

/** The platform says this change cannot succeed (e.g. ProgressDeadlineExceeded): retrying will not help. */
export class RolloutFailedError extends Error {
  override readonly name = 'RolloutFailedError';
}

/** The platform refused for lack of permission (e.g. Kubernetes RBAC 403): retrying will not help. */
export class PermissionDeniedError extends Error {
  override readonly name = 'PermissionDeniedError';
}

/** The remote service asked to be called again later (HTTP 429 with Retry-After): retry after exactly that delay. */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** The remote service refused the request for good (a 4xx other than 429, a bad address): retrying will not help. */
export class RequestRejectedError extends Error {
  override readonly name = 'RequestRejectedError';
}
