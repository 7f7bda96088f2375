// Pages on-call SREs through the PagerDuty Events API v2. PagerDuty de-duplicates by dedup_key while the incident is
// open, so an activity retry of the same trigger (or resolve) is harmless, and the resolve closes the incident its
// trigger opened. Once it is resolved, a trigger with the same dedup_key opens a new incident and pages again: so a
// trigger is never sent, nor its request left in flight, after its deadline (`notAfter`, the activity attempt's end),
// and the workflow sends the resolve only once the trigger's activity has settled.
import { createHash } from 'node:crypto';
import type { AlertOptions, AlerterPort } from '../activities/ports';
import { RequestRejectedError, RetryLaterError } from '../activities/ports';
import type { AlertSeverity, SreAlert } from '../domain/model';
import { describeFetchError, parseRetryAfter, withTimeout } from './httpClient';
import { alertDeadline, refuseIfTooLate } from './logAlerter';

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

/** One request's abort signal: the caller's signal, the request timeout, and the alert's deadline, whichever is first. */
export interface AlertRequest {
  signal: AbortSignal;
  /** Why the request was aborted, once it was. */
  abortedBy(): 'cancelled' | 'deadline' | 'timeout' | undefined;
}

/** The signal for one alert request: it aborts after min(`timeoutMs`, `notAfter` − now), or with `options.signal`. */
export function alertRequest(timeoutMs: number, options: AlertOptions = {}, now = Date.now()): AlertRequest {
  const notAfter = alertDeadline(options);
  const untilDeadline = notAfter === undefined ? Infinity : notAfter - now;
  const deadlineFirst = untilDeadline < timeoutMs;
  const { timeout, combined } = withTimeout(
    Math.max(0, Math.floor(Math.min(timeoutMs, untilDeadline))),
    options.signal,
  );
  return {
    signal: combined,
    abortedBy: () => {
      if (options.signal?.aborted) return 'cancelled';
      if (timeout.aborted) return deadlineFirst ? 'deadline' : 'timeout';
      return undefined;
    },
  };
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
/**
 * "Events API payloads are limited to 512 KB" (PagerDuty Events API v2 overview, "Size Limits"). Whether a KB is
 * 1000 or 1024 bytes is not said: 512,000 bytes of serialized JSON (UTF-8), the stricter reading (Alertmanager's too).
 */
export const PAGERDUTY_EVENT_MAX_BYTES = 512_000;
/**
 * nightshift's own cap on `payload.source`, `component`, `group` and `class` (PagerDuty documents no limit for them):
 * it keeps everything but `custom_details` small, so a bounded event always has room for the details that matter.
 */
export const PAGERDUTY_FIELD_MAX = 1024;

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

  /**
   * Sends the event, unless `options.notAfter` has passed or `options.signal` has aborted (a plain Error then); the
   * request is aborted at `notAfter` at the latest, so nothing of this call reaches PagerDuty afterwards.
   */
  async alert(alert: SreAlert, options: AlertOptions = {}): Promise<void> {
    const what = `${alert.action} for ${alert.controlPlaneId} (dedup ${alert.dedupKey})`;
    refuseIfTooLate(`PagerDuty ${what}`, options);
    const event = this.event(alert);
    const body = JSON.stringify(event.event_action === 'trigger' ? boundPagerDutyEvent(event) : event);

    const request = alertRequest(this.timeoutMs, options);
    let status: number;
    let retryAfter: string | null;
    let text: string;
    try {
      const res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        signal: request.signal,
        // The body carries the routing key: it goes to the configured endpoint only.
        redirect: 'manual',
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (err) {
      switch (request.abortedBy()) {
        case 'cancelled':
          throw new Error(`PagerDuty ${what}: cancelled while waiting for ${this.endpoint}`, { cause: err });
        case 'deadline':
          throw new Error(
            `PagerDuty ${what}: no answer from ${this.endpoint} by its deadline ` +
              `${new Date(alertDeadline(options)!).toISOString()}: request aborted`,
            { cause: err },
          );
        case 'timeout':
          throw new Error(`PagerDuty ${what}: no answer from ${this.endpoint} within ${this.timeoutMs} ms`, {
            cause: err,
          });
        default:
          throw new Error(`PagerDuty ${what}: POST ${this.endpoint} ${this.redact(describeFetchError(err))}`, {
            cause: err,
          });
      }
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
        source: truncate(this.source, PAGERDUTY_FIELD_MAX),
        severity: alert.severity,
        component: truncate(alert.controlPlaneId, PAGERDUTY_FIELD_MAX),
        group: truncate(alert.releaseId, PAGERDUTY_FIELD_MAX),
        class: truncate(this.eventClass, PAGERDUTY_FIELD_MAX),
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

/** What a bounded event says in `custom_details` when its details were cut. */
export interface TruncationNote {
  truncated: true;
  /** Bytes of the original `custom_details`, serialized. */
  originalBytes: number;
  /** The keys whose values were cut or left out, in their order (at most 20, each at most 100 characters). */
  truncatedKeys: string[];
  /** How many keys were cut or left out, when more than `truncatedKeys` names. */
  truncatedKeyCount?: number;
}

const NOTE_KEYS_MAX = 20;
const NOTE_KEY_CHARS = 100;
/** While the budget lasts, a value cut to share the room with other large ones keeps at least this many bytes. */
const MIN_SHARE_BYTES = 1024;
/** Keys nightshift adds to custom_details itself: they identify the upgrade, so they are kept whole. */
const OWN_DETAIL_KEYS = ['workflowId', 'dedupKey'];

const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');

function truncationNote(originalBytes: number, keys: string[]): TruncationNote {
  return {
    truncated: true,
    originalBytes,
    truncatedKeys: keys.slice(0, NOTE_KEYS_MAX).map((key) => truncate(key, NOTE_KEY_CHARS)),
    ...(keys.length > NOTE_KEYS_MAX ? { truncatedKeyCount: keys.length } : {}),
  };
}

/** Bytes `JSON.stringify` gives the UTF-16 code unit at `i` of `text` (a surrogate pair counts at its first unit). */
function jsonCharBytes(text: string, i: number): { bytes: number; units: number } {
  const c = text.charCodeAt(i);
  if (c === 0x22 || c === 0x5c) return { bytes: 2, units: 1 };
  if (c < 0x20) return { bytes: [0x08, 0x09, 0x0a, 0x0c, 0x0d].includes(c) ? 2 : 6, units: 1 };
  if (c < 0x80) return { bytes: 1, units: 1 };
  if (c < 0x800) return { bytes: 2, units: 1 };
  if (c >= 0xd800 && c <= 0xdbff) {
    const next = text.charCodeAt(i + 1);
    if (next >= 0xdc00 && next <= 0xdfff) return { bytes: 4, units: 2 };
  }
  // A lone surrogate is written as a \u escape.
  if (c >= 0xd800 && c <= 0xdfff) return { bytes: 6, units: 1 };
  return { bytes: 3, units: 1 };
}

/**
 * The longest prefix of `text`, ending with `…`, whose JSON string (quotes included) takes at most `maxBytes`; never
 * splits a surrogate pair. Undefined when there is no room for a useful excerpt.
 */
function cutToJsonBytes(text: string, maxBytes: number): string | undefined {
  const budget = maxBytes - 2 - 3; // the quotes, and the ellipsis (3 bytes in UTF-8)
  if (budget < 16) return undefined;
  let used = 0;
  let end = 0;
  while (end < text.length) {
    const { bytes, units } = jsonCharBytes(text, end);
    if (used + bytes > budget) return `${text.slice(0, end)}…`;
    used += bytes;
    end += units;
  }
  return text;
}

/**
 * The trigger event within PagerDuty's size limit: unchanged when it fits. Otherwise its `custom_details` shrink,
 * deterministically: nightshift's own keys (workflowId, dedupKey) stay whole; the other fields, smallest first, are
 * kept whole while they fit in an equal share of the room left; a larger value is replaced by an excerpt of it (the
 * string itself, or the JSON text of anything else) cut to its share and ending with `…`, or left out when there is
 * no room left. A {@link TruncationNote} (`truncated: true`, the original size, the keys cut) is added. If even that
 * cannot fit, the links go and the details keep only the note.
 */
export function boundPagerDutyEvent(
  event: PagerDutyTriggerEvent,
  maxBytes = PAGERDUTY_EVENT_MAX_BYTES,
): PagerDutyTriggerEvent {
  if (jsonBytes(event) <= maxBytes) return event;
  const details = event.payload.custom_details;
  const originalBytes = jsonBytes(details);
  const own = Object.fromEntries(Object.entries(details).filter(([key]) => OWN_DETAIL_KEYS.includes(key)));
  const entries = Object.entries(details).flatMap(([key, value], index) => {
    if (OWN_DETAIL_KEYS.includes(key)) return [];
    const valueJson = JSON.stringify(value) as string | undefined;
    // JSON leaves such a value out anyway.
    if (valueJson === undefined) return [];
    const keyBytes = jsonBytes(key) + 2; // the colon, and a comma
    return [{ key, value, valueJson, index, keyBytes, bytes: keyBytes + Buffer.byteLength(valueJson, 'utf8') }];
  });
  const withDetails = (customDetails: Record<string, unknown>, links = true): PagerDutyTriggerEvent => {
    const { links: _links, ...rest } = event;
    return {
      ...rest,
      payload: { ...event.payload, custom_details: customDetails },
      ...(links && event.links ? { links: event.links } : {}),
    };
  };

  // The room for the other fields: the limit, less the event with only nightshift's keys, less the largest note
  // (the one naming the keys that take the most room in it).
  const widestKeys = entries
    .map((e) => ({ key: e.key, cost: jsonBytes(truncate(e.key, NOTE_KEY_CHARS)) }))
    .sort((a, b) => b.cost - a.cost)
    .slice(0, NOTE_KEYS_MAX)
    .map((k) => k.key);
  const largestNote = truncationNote(originalBytes, widestKeys);
  if (entries.length > NOTE_KEYS_MAX) largestNote.truncatedKeyCount = entries.length;
  let left = maxBytes - jsonBytes(withDetails(own)) - jsonBytes(largestNote);

  const kept = new Map<number, unknown>();
  const cut = new Set<number>();
  const bySize = [...entries].sort((a, b) => a.bytes - b.bytes || a.index - b.index);
  bySize.forEach((entry, i) => {
    const share = Math.min(left, Math.max(MIN_SHARE_BYTES, Math.floor(left / (bySize.length - i))));
    if (entry.bytes <= share) {
      kept.set(entry.index, entry.value);
      left -= entry.bytes;
      return;
    }
    cut.add(entry.index);
    const text = typeof entry.value === 'string' ? entry.value : entry.valueJson;
    const excerpt = cutToJsonBytes(text, share - entry.keyBytes);
    if (excerpt === undefined) return;
    kept.set(entry.index, excerpt);
    left -= entry.keyBytes + jsonBytes(excerpt);
  });

  const cutKeys = entries.filter((e) => cut.has(e.index)).map((e) => e.key);
  const bounded = withDetails({
    ...Object.fromEntries(entries.filter((e) => kept.has(e.index)).map((e) => [e.key, kept.get(e.index)])),
    ...own,
    ...truncationNote(originalBytes, cutKeys),
  });
  if (jsonBytes(bounded) <= maxBytes) return bounded;

  // Only when what is not custom_details is itself huge (e.g. a very long workflow id): the smallest event there is.
  const ownCut = Object.fromEntries(
    Object.entries(own).map(([key, value]) => [
      key,
      truncate(typeof value === 'string' ? value : (JSON.stringify(value) ?? ''), PAGERDUTY_FIELD_MAX),
    ]),
  );
  return withDetails(
    {
      ...ownCut,
      ...truncationNote(
        originalBytes,
        entries.map((e) => e.key),
      ),
    },
    false,
  );
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
