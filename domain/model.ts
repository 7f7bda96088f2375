// Plain data types shared by workflows, activities and adapters. Everything here must serialize as JSON
// (it travels through Temporal payloads and history), so instants are ISO-8601 strings, never Date objects.

export type ComponentKind = 'dashboard' | 'gateway' | 'data-plane';

/** One deployable part of a control plane. `id` is `dashboard`, `gateway`, or the data plane's id. */
export interface ComponentRef {
  controlPlaneId: string;
  kind: ComponentKind;
  id: string;
}

export function componentLabel(c: ComponentRef): string {
  return c.kind === 'data-plane' ? `data plane ${c.id}` : c.kind;
}

export interface ComponentChange {
  component: ComponentRef;
  from: string;
  to: string;
  /** Configuration keys renamed between `from` and `to`, applied in the same rollout as the version change. */
  configMigrations?: ConfigMigration[];
}

/** A configuration value the version matrix can prescribe: JSON, so it travels through workflow history. */
export type ConfigValue = string | number | boolean;

/** One renamed configuration key, to be rewritten when the component moves past `renamedIn`. */
export interface ConfigMigration {
  /** The key in use: a dotted path into the component's configuration, e.g. `enable_jsvm_timeout`. */
  key: string;
  /** Its new name, e.g. `jsvm_timeout`. */
  to: string;
  /** The version that renamed it. */
  renamedIn: string;
  /** The value the new key must have; without it, the old key's value carries over. */
  value?: ConfigValue;
}

/** A configuration key in use that a version between the current and the target one removed. */
export interface ConfigBlocker {
  component: ComponentRef;
  /** The key as the customer's configuration names it (a dotted path). */
  key: string;
  removedIn: string;
  /** What the customer or an SRE should do instead. */
  advice: string;
  /** Set when the key was renamed to another name first, and that name is the one removed. */
  renamedTo?: { key: string; renamedIn: string };
}

export const SKIP_REASONS = [
  'not-opted-in',
  'hybrid',
  'plugins',
  'already-at-target',
  'not-on-older-lts-line',
  'not-affected',
  'control-plane-not-found',
  'config-incompatible',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** Why one component is left alone although its control plane is upgraded. */
export type ComponentSkipReason = 'already-at-target' | 'would-downgrade' | 'not-on-older-lts-line' | 'not-affected';

export interface ComponentDecision {
  component: ComponentRef;
  from: string;
  to: string;
  change: boolean;
  reason?: ComponentSkipReason;
  detail: string;
}

export type EligibilityDecision =
  | { eligible: true; changes: ComponentChange[]; components: ComponentDecision[] }
  | {
      eligible: false;
      reason: SkipReason;
      detail: string;
      components: ComponentDecision[];
      /** With reason `config-incompatible`: each removed key in use, for tooling (the detail says it in words). */
      configBlockers?: ConfigBlocker[];
    };

/** A concrete maintenance window chosen for one upgrade. */
export interface WindowPlan {
  /** When the upgrade may start: the window's opening, or later when the lead time ends inside an open window. */
  startAt: string;
  /** When the window, as scheduled by the customer's pattern, opens (ISO UTC). */
  opensAt: string;
  /** When it closes: the pattern's end, or the start of a blackout that cuts it short (ISO UTC). */
  closesAt: string;
  timeZone: string;
  /** e.g. `Sun 29 Nov 2026 01:00–05:00 CET (Europe/Berlin)` */
  localText: string;
  /** e.g. `Sun 29 Nov 2026 00:00–04:00 UTC` */
  utcText: string;
  /** Notice period applied: the window starts no earlier than this many minutes after the notice. */
  leadMinutes: number;
  /** Minutes the upgrade is expected to need; the chosen window is at least this long from startAt. */
  requiredMinutes: number;
  /** When the notice naming this window was delivered (the workflow's clock); startAt is at least leadMinutes later. */
  noticeDeliveredAt?: string;
}

export const NOTICE_KINDS = [
  'scheduled',
  'rescheduled',
  'starting',
  'completed',
  'rolled-back',
  'cancelled',
  'action-needed',
] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

/** What a notice is about; rendered into the customer's email by the notify activity. */
export interface NoticeRequest {
  /** Idempotency key: the same key is delivered at most once, whatever the retries. */
  key: string;
  kind: NoticeKind;
  controlPlaneId: string;
  releaseId: string;
  notesUrl: string;
  changes: ComponentChange[];
  window?: WindowPlan;
  /** For rescheduled / rolled-back / cancelled / action-needed: why, in words a customer can read. */
  reason?: string;
  /** The workflow's clock when it asked for the notice (ISO). */
  requestedAt: string;
}

export interface NoticeReceipt {
  key: string;
  /** When the activity learnt the outcome was final (the worker's clock; the workflow keeps its own time too). */
  deliveredAt: string;
  /** True when an earlier attempt had already delivered it (nothing sent twice). */
  duplicate: boolean;
  channel: string;
  /** The channel's id of the send (HubSpot statusId), its final result (sendResult) and when it says it completed. */
  deliveryId?: string;
  result?: string;
  completedAt?: string;
}

export type HealthStatus = 'pass' | 'warn' | 'fail' | 'unreachable';

/**
 * One probe of a component's Tyk /hello. For a Gateway (management or data plane) `status` is nightshift's verdict
 * from the checks in the body, the same on every Tyk build: every check passing is `pass`, every check failing `fail`,
 * some failing `warn` (docs/decisions/0009-tyk-health.md). The Dashboard's /hello is liveness only: `pass` while it
 * answers 2xx. An answer no Tyk build gives, or none at all, is `unreachable` with the reason in `error`.
 */
export interface HealthReport {
  component: ComponentRef;
  status: HealthStatus;
  version?: string;
  /** Per-check details as reported by Tyk's /hello (`redis`, `dashboard`, `rpc`); each check is pass or fail. */
  details?: Record<string, { status: string; output?: string }>;
  /**
   * A Gateway that answered `pass` with no check results (Tyk omits an empty `details`): it has not run its first
   * check yet, which Tyk does one check_duration (10 s by default) after it starts. Alive, but no evidence of health.
   */
  awaitingFirstCheck?: boolean;
  /**
   * What the body's own `status` said, when it differs from `status`: the 503 builds (5.8.3, 5.8.6–5.8.12, 5.9.0)
   * answer `fail` when a critical check such as redis fails, where every other build answers `warn`.
   */
  reportedStatus?: 'pass' | 'warn' | 'fail';
  httpStatus?: number;
  error?: string;
  at: string;
}

/** One health probe as the step history keeps it: small, readable evidence of what the component answered. */
export interface ProbeRecord {
  at: string;
  status: HealthStatus;
  version?: string;
  httpStatus?: number;
  /** Set when the Gateway had not run its first check (pass with empty details): never counted as a pass. */
  awaitingFirstCheck?: boolean;
  /** What Tyk's body said, when nightshift judged it differently (see HealthReport). */
  reportedStatus?: 'pass' | 'warn' | 'fail';
  /** The checks that did not pass (`redis: fail (dial tcp …)`), why the probe got no answer, or that no check ran yet. */
  problems?: string;
}

/** Why a probe of a Gateway that has not run its first check is no evidence, in the words the evidence shows. */
export const AWAITING_FIRST_CHECK = 'no check results yet (Tyk runs its first check one check_duration after start)';

export function probeRecord(r: HealthReport): ProbeRecord {
  const failing = Object.entries(r.details ?? {})
    .filter(([, d]) => d.status !== 'pass')
    .map(([name, d]) => `${name}: ${d.status}${d.output ? ` (${d.output})` : ''}`);
  const problems =
    r.error ?? (failing.length ? failing.join('; ') : r.awaitingFirstCheck ? AWAITING_FIRST_CHECK : undefined);
  return {
    at: r.at,
    status: r.status,
    ...(r.version ? { version: r.version } : {}),
    ...(r.httpStatus === undefined ? {} : { httpStatus: r.httpStatus }),
    ...(r.awaitingFirstCheck ? { awaitingFirstCheck: true } : {}),
    ...(r.reportedStatus ? { reportedStatus: r.reportedStatus } : {}),
    ...(problems ? { problems } : {}),
  };
}

export type AlertSeverity = 'critical' | 'error' | 'warning' | 'info';

export interface SreAlert {
  /** Stable per upgrade: groups its alerts into one incident (PagerDuty dedup_key), and a resolve closes it. */
  dedupKey: string;
  /**
   * Unique per alert the workflow raises: a retried activity delivers it once; a later alert for the same upgrade
   * (another trigger, a resolve) is a new one. Absent in alerts recorded before it existed: then action + dedupKey.
   */
  id?: string;
  action: 'trigger' | 'resolve';
  severity: AlertSeverity;
  summary: string;
  controlPlaneId: string;
  releaseId: string;
  workflowId: string;
  details: Record<string, unknown>;
}

/** What rollback needs to put a component back exactly as it was. `data` is adapter-specific and small. */
export interface ComponentSnapshot {
  component: ComponentRef;
  version: string;
  takenAt: string;
  /** The component's configuration at the time, when the platform manages it: restore puts it back as it was. */
  config?: Record<string, unknown>;
  data?: unknown;
}

/** One customer email, rendered from a notice request (domain/notices.ts) and sent by a notifier port. */
export interface EmailMessage {
  /** Idempotency key: a message with a key already delivered is not sent again. */
  key: string;
  to: { email: string; name: string };
  subject: string;
  text: string;
  /** Template variables for template-based channels (HubSpot custom properties). */
  properties: Record<string, string>;
  noticeKind: string;
}
