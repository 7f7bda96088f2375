// Pages on-call SREs through the PagerDuty Events API v2. PagerDuty de-duplicates by dedup_key, so an activity retry
// of the same trigger (or resolve) is harmless, and the resolve closes the incident its trigger opened.
import { createHash } from 'node:crypto';
import type { AlerterPort } from '../activities/ports';
import { RequestRejectedError, RetryLaterError } from '../activities/ports';
import type { AlertSeverity, SreAlert } from '../domain/model';
import { describeFetchError, parseRetryAfter, withTimeout } from './httpClient';

/** Where the Temporal Web UI shows this deployment's workflows; alerts link to the upgrade's workflow. */
export interface TemporalUiOptions {
  /** e.g. `https://temporal.example.com` or `http://localhost:8233`. */
  baseUrl: string;
  namespace: string;
}

export function temporalWorkflowUrl(ui: TemporalUiOptions, workflowId: string): string {
  const base = ui.baseUrl.replace(/\/+$/, '');
  return `${base}/namespaces/${encodeURIComponent(ui.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

const MIN_RETRY_AFTER_MS = 1000;
// A pager that waits an hour because a proxy said so is worse than one more 429: later attempts ask again.
const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** The delay a 429's Retry-After asks for (delta-seconds or an HTTP date), else `fallbackMs`; kept within 1 s–5 min. */
export function retryAfterMs(header: string | null, fallbackMs: number, now = Date.now()): number {
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(MIN_RETRY_AFTER_MS, parseRetryAfter(header, now) ?? fallbackMs));
}

export interface PagerDutyAlerterOptions {
  /** The Events API v2 integration key of the service to page. A secret: never logged nor put in errors. */
  routingKey: string;
  /** Default `https://events.pagerduty.com` (use `https://events.eu.pagerduty.com` for EU accounts). */
  baseUrl?: string;
  /** `payload.source`. Default `nightshift`. */
  source?: string;
  /** `payload.class`. Default `tyk-upgrade`. */
  eventClass?: string;
  /** Adds a link to the upgrade's workflow in the Temporal UI to triggered incidents. */
  temporalUi?: TemporalUiOptions;
  /** Timeout of one request, response body included. Default 10000. */
  timeoutMs?: number;
  /** Delay asked of Temporal after a 429 without Retry-After. Default 30000. */
  defaultRetryAfterMs?: number;
}

export interface PagerDutyTriggerEvent {
  routing_key: string;
  event_action: 'trigger';
  dedup_key: string;
  payload: {
    summary: string;
    source: string;
    severity: AlertSeverity;
    component: string;
    group: string;
    class: string;
    custom_details: Record<string, unknown>;
  };
  links?: { href: string; text: string }[];
}

export interface PagerDutyResolveEvent {
  routing_key: string;
  event_action: 'resolve';
  dedup_key: string;
}

export const PAGERDUTY_SUMMARY_MAX = 1024;
export const PAGERDUTY_DEDUP_KEY_MAX = 255;

/** Cuts `text` to at most `max` characters, ending with an ellipsis when cut (never splitting a surrogate pair). */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

/**
 * The dedup_key PagerDuty gets: the alert's own key when it fits in 255 characters, else a prefix of it plus a hash
 * of the whole key, so the trigger and the resolve of one upgrade still agree.
 */
export function pagerDutyDedupKey(dedupKey: string): string {
  if (dedupKey.length <= PAGERDUTY_DEDUP_KEY_MAX) return dedupKey;
  const hash = createHash('sha256').update(dedupKey).digest('hex');
  return `${dedupKey.slice(0, PAGERDUTY_DEDUP_KEY_MAX - hash.length - 1)}#${hash}`;
}

export class PagerDutyAlerter implements AlerterPort {
  readonly channel = 'pagerduty';
  /** A pager wakes people up: a FanoutAlerter target without its own minSeverity pages for `error` and above. */
  readonly defaultMinSeverity: AlertSeverity = 'error';
  // A private field keeps the key out of util.inspect and JSON.stringify of the alerter.
  readonly #routingKey: string;
  private readonly endpoint: string;
  private readonly source: string;
  private readonly eventClass: string;
  private readonly temporalUi?: TemporalUiOptions;
  private readonly timeoutMs: number;
  private readonly defaultRetryAfterMs: number;

  constructor(opts: PagerDutyAlerterOptions) {
    if (!opts.routingKey?.trim()) throw new Error('PagerDuty routing key is empty');
    this.#routingKey = opts.routingKey.trim();
    this.endpoint = `${(opts.baseUrl ?? 'https://events.pagerduty.com').replace(/\/+$/, '')}/v2/enqueue`;
    this.source = opts.source ?? 'nightshift';
    this.eventClass = opts.eventClass ?? 'tyk-upgrade';
    if (opts.temporalUi) this.temporalUi = opts.temporalUi;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.defaultRetryAfterMs = opts.defaultRetryAfterMs ?? 30_000;
  }

  async alert(alert: SreAlert): Promise<void> {
    const event = this.event(alert);
    const what = `${alert.action} for ${alert.controlPlaneId} (dedup ${alert.dedupKey})`;

    const { timeout, combined } = withTimeout(this.timeoutMs);
    let status: number;
    let retryAfter: string | null;
    let text: string;
    try {
      const res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(event),
        signal: combined,
        // The body carries the routing key: it goes to the configured endpoint only.
        redirect: 'manual',
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (err) {
      if (timeout.aborted)
        throw new Error(`PagerDuty ${what}: no answer from ${this.endpoint} within ${this.timeoutMs} ms`, {
          cause: err,
        });
      throw new Error(`PagerDuty ${what}: POST ${this.endpoint} ${this.redact(describeFetchError(err))}`, {
        cause: err,
      });
    }

    if (status >= 200 && status < 300) return;
    if (status >= 300 && status < 400)
      throw new RequestRejectedError(`PagerDuty answered ${status} to the ${what}: a redirect, not followed`);
    if (status === 429) {
      const delay = retryAfterMs(retryAfter, this.defaultRetryAfterMs);
      throw new RetryLaterError(`PagerDuty ${what}: rate limited (429); retrying in ${delay} ms`, delay);
    }
    const reason = this.redact(describeRejection(text));
    if (status >= 400 && status < 500)
      throw new RequestRejectedError(`PagerDuty rejected the ${what}: ${status} ${reason}`);
    throw new Error(`PagerDuty answered ${status} to the ${what}: ${reason}`);
  }

  private event(alert: SreAlert): PagerDutyTriggerEvent | PagerDutyResolveEvent {
    const dedupKey = pagerDutyDedupKey(alert.dedupKey);
    if (alert.action === 'resolve') {
      return { routing_key: this.#routingKey, event_action: 'resolve', dedup_key: dedupKey };
    }
    const event: PagerDutyTriggerEvent = {
      routing_key: this.#routingKey,
      event_action: 'trigger',
      dedup_key: dedupKey,
      payload: {
        summary: truncate(
          alert.summary.trim() || `nightshift alert for ${alert.controlPlaneId}`,
          PAGERDUTY_SUMMARY_MAX,
        ),
        source: this.source,
        severity: alert.severity,
        component: alert.controlPlaneId,
        group: alert.releaseId,
        class: this.eventClass,
        custom_details: {
          ...alert.details,
          workflowId: alert.workflowId,
          ...(dedupKey === alert.dedupKey ? {} : { dedupKey: alert.dedupKey }),
        },
      },
    };
    if (this.temporalUi) {
      event.links = [
        { href: temporalWorkflowUrl(this.temporalUi, alert.workflowId), text: `Workflow ${alert.workflowId}` },
      ];
    }
    return event;
  }

  private redact(text: string): string {
    return text.split(this.#routingKey).join('[routing key]');
  }
}

/** PagerDuty's `message: error; error` from an error body, or an excerpt of whatever else came back. */
function describeRejection(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown; errors?: unknown };
    if (body && typeof body === 'object' && typeof body.message === 'string') {
      const errors = Array.isArray(body.errors) ? body.errors.filter((e) => typeof e === 'string') : [];
      return errors.length ? `${body.message}: ${errors.join('; ')}` : body.message;
    }
  } catch {
    // not JSON: quoted below
  }
  const trimmed = text.trim();
  return trimmed ? JSON.stringify(truncate(trimmed, 200)) : '(empty body)';
}
