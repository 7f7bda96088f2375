// Informs a Slack channel through an incoming webhook. The webhook URL is the credential: errors name only its host.
//
// Slack does not de-duplicate. A bounded in-memory record of delivered alert (its id, else `${action}:${dedupKey}`) keeps an activity
// retry in this worker process from posting twice; a retry on another worker, or after this one crashed or forgot
// the key, may post the same message again. That at-least-once delivery is acceptable for a chat channel: PagerDuty,
// which de-duplicates by dedup_key, is the pager of record.
import type { AlertOptions, AlerterPort } from '../activities/ports';
import { RequestRejectedError, RetryLaterError } from '../activities/ports';
import type { SreAlert } from '../domain/model';
import { describeFetchError } from './httpClient';
import { alertRequest, retryAfterMs, temporalWorkflowUrl, truncate, type TemporalUiOptions } from './pagerDutyAlerter';
import { alertDeadline, alertKey, refuseIfTooLate } from './logAlerter';

export interface SlackAlerterOptions {
  /** `https://hooks.slack.com/services/T…/B…/…`. A secret: never logged nor put in errors (its host is). */
  webhookUrl: string;
  /** Adds a link to the upgrade's workflow in the Temporal UI to each message. */
  temporalUi?: TemporalUiOptions;
  /** Timeout of one request, response body included. Default 10000. */
  timeoutMs?: number;
  /** Delay asked of Temporal after a 429 without Retry-After. Default 30000. */
  defaultRetryAfterMs?: number;
  /** How many delivered alert (its id, else `${action}:${dedupKey}`) to remember against retries; the oldest are forgotten. Default 1000. */
  rememberDelivered?: number;
}

// Slack shows at most 40,000 characters of `text`; a summary is a sentence or two, so this cap is only a safeguard.
const SUMMARY_MAX = 3000;

export class SlackAlerter implements AlerterPort {
  readonly channel = 'slack';
  readonly #webhookUrl: string;
  /** `webhook at hooks.slack.com`: how errors name the destination. */
  private readonly where: string;
  readonly #secretParts: string[];
  private readonly temporalUi?: TemporalUiOptions;
  private readonly timeoutMs: number;
  private readonly defaultRetryAfterMs: number;
  private readonly remember: number;
  private readonly delivered = new Set<string>();
  /** Concurrent calls for one key share one POST. */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(opts: SlackAlerterOptions) {
    let url: URL;
    try {
      url = new URL(opts.webhookUrl);
    } catch {
      // URL's TypeError carries the input: not rethrown.
      throw new Error('Slack webhook URL is not a valid URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new Error(`Slack webhook URL must be http(s), not ${url.protocol}`);
    this.#webhookUrl = url.href;
    this.where = `webhook at ${url.host}`;
    // Longest first. The last path segment is the webhook's own secret: an error page may echo it alone.
    const token = url.pathname.split('/').at(-1) ?? '';
    this.#secretParts = [url.href, opts.webhookUrl, url.pathname, token].filter((part) => part.length > 1);
    if (opts.temporalUi) this.temporalUi = opts.temporalUi;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.defaultRetryAfterMs = opts.defaultRetryAfterMs ?? 30_000;
    this.remember = Math.max(1, opts.rememberDelivered ?? 1000);
  }

  /**
   * Posts the message, unless `options.notAfter` has passed or `options.signal` has aborted (a plain Error then); the
   * request is aborted at `notAfter` at the latest. A concurrent call for the same alert shares the first one's POST.
   */
  async alert(alert: SreAlert, options: AlertOptions = {}): Promise<void> {
    refuseIfTooLate(`Slack ${alert.action} for ${alert.controlPlaneId} (dedup ${alert.dedupKey})`, options);
    const key = alertKey(alert);
    if (this.delivered.has(key)) return;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const post = this.post(alert, options).then(() => this.markDelivered(key));
    this.inFlight.set(key, post);
    try {
      await post;
    } finally {
      this.inFlight.delete(key);
    }
  }

  private markDelivered(key: string): void {
    this.delivered.add(key);
    if (this.delivered.size > this.remember) {
      const oldest = this.delivered.values().next().value;
      if (oldest !== undefined) this.delivered.delete(oldest);
    }
  }

  private async post(alert: SreAlert, options: AlertOptions): Promise<void> {
    const what = `${alert.action} for ${alert.controlPlaneId} (dedup ${alert.dedupKey})`;
    const request = alertRequest(this.timeoutMs, options);
    let status: number;
    let retryAfter: string | null;
    let text: string;
    try {
      const res = await fetch(this.#webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: formatSlackText(alert, this.temporalUi) }),
        signal: request.signal,
        redirect: 'manual',
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (err) {
      // No cause attached: it is the fetch error of a request to the secret URL, and Temporal records causes.
      /* eslint-disable preserve-caught-error */
      switch (request.abortedBy()) {
        case 'cancelled':
          throw new Error(`Slack ${what}: cancelled while waiting for the ${this.where}`);
        case 'deadline':
          throw new Error(
            `Slack ${what}: no answer from the ${this.where} by its deadline ` +
              `${new Date(alertDeadline(options)!).toISOString()}: request aborted`,
          );
        case 'timeout':
          throw new Error(`Slack ${what}: no answer from the ${this.where} within ${this.timeoutMs} ms`);
        default:
          throw new Error(`Slack ${what}: POST to the ${this.where} ${this.redact(describeFetchError(err))}`);
      }
      /* eslint-enable preserve-caught-error */
    }

    // Slack answers `ok`; any 2xx means the message was accepted, and posting again would duplicate it.
    if (status >= 200 && status < 300) return;
    if (status >= 300 && status < 400)
      throw new RequestRejectedError(
        `the Slack ${this.where} answered ${status} to the ${what}: a redirect, not followed`,
      );
    if (status === 429) {
      const delay = retryAfterMs(retryAfter, this.defaultRetryAfterMs);
      throw new RetryLaterError(
        `Slack ${what}: rate limited (429) by the ${this.where}; retrying in ${delay} ms`,
        delay,
      );
    }
    const trimmed = text.trim();
    const reason = trimmed ? this.redact(truncate(trimmed, 200)) : '(empty body)';
    if (status >= 400 && status < 500)
      throw new RequestRejectedError(`the Slack ${this.where} rejected the ${what}: ${status} ${reason}`);
    throw new Error(`the Slack ${this.where} answered ${status} to the ${what}: ${reason}`);
  }

  private redact(text: string): string {
    return this.#secretParts.reduce((t, secret) => t.split(secret).join('[webhook]'), text);
  }
}

/** Slack's mrkdwn gives `&`, `<` and `>` meaning: they are escaped in text that comes from elsewhere. */
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * ```
 * CRITICAL | control plane cp-acme | release lts-5.8.2
 * Rollback of cp-acme failed: gateway still on 5.8.2
 * Workflow: <http://…/workflows/upgrade-cp-acme-lts-5.8.2|upgrade-cp-acme-lts-5.8.2> (Temporal UI)
 * ```
 * A resolve starts with `RESOLVED (was CRITICAL)`.
 */
export function formatSlackText(alert: SreAlert, ui?: TemporalUiOptions): string {
  const severity = alert.severity.toUpperCase();
  const head = alert.action === 'resolve' ? `RESOLVED (was ${severity})` : severity;
  const workflow = ui
    ? `<${temporalWorkflowUrl(ui, alert.workflowId)}|${escapeMrkdwn(alert.workflowId)}> (Temporal UI)`
    : escapeMrkdwn(alert.workflowId);
  return [
    `${head} | control plane ${escapeMrkdwn(alert.controlPlaneId)} | release ${escapeMrkdwn(alert.releaseId)}`,
    escapeMrkdwn(truncate(alert.summary.trim(), SUMMARY_MAX)),
    `Workflow: ${workflow}`,
  ].join('\n');
}
