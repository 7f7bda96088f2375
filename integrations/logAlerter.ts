// The embedded default's SRE pager: a readable line in the worker's log and, optionally, one JSON line per alert in
// a file. A repeat of the same dedupKey + action (an activity retry) is written once, like PagerDuty's dedup_key.
import type { AlertOptions, AlerterPort } from '../activities/ports';
import type { SreAlert } from '../domain/model';
import { KeyedJsonLinesFile, readJsonLines } from './jsonLinesFile';

export interface AlertLogEntry extends SreAlert {
  at: string;
}

export interface LogAlerterOptions {
  /** JSON-lines file of alerts; repeats are recognized across restarts when given. */
  path?: string;
  /** Where the readable line goes; console.error by default. */
  log?: (line: string) => void;
}

/** What makes an alert "the same one again" (an activity retry): its id, else its action and incident key. */
export function alertKey(alert: Pick<SreAlert, 'id' | 'dedupKey' | 'action'>): string {
  return alert.id ?? `${alert.action}:${alert.dedupKey}`;
}

/** `notAfter` when it is a usable instant, else undefined (no deadline). */
export function alertDeadline(options: AlertOptions = {}): number | undefined {
  return typeof options.notAfter === 'number' && Number.isFinite(options.notAfter) ? options.notAfter : undefined;
}

/**
 * Throws a plain (retryable) Error when the alert must not be sent any more: its signal has aborted, or its deadline
 * (`notAfter`) has passed. `what` names the alert in the message, e.g. `PagerDuty trigger for cp-acme (dedup …)`.
 * The activity's retry gets a fresh deadline.
 */
export function refuseIfTooLate(what: string, options: AlertOptions = {}, now = Date.now()): void {
  if (options.signal?.aborted) throw new Error(`${what}: cancelled, not sent`);
  const notAfter = alertDeadline(options);
  if (notAfter !== undefined && now >= notAfter)
    throw new Error(`${what}: not sent, its deadline ${new Date(notAfter).toISOString()} has passed`);
}

export class LogAlerter implements AlerterPort {
  readonly channel = 'log';
  private readonly log: (line: string) => void;
  private readonly file?: KeyedJsonLinesFile<AlertLogEntry>;
  /** Used when there is no file: repeats are recognized within this instance only. */
  private readonly seen = new Set<string>();

  constructor(opts: LogAlerterOptions = {}) {
    this.log = opts.log ?? ((line) => console.error(line));
    if (opts.path) {
      this.file = new KeyedJsonLinesFile<AlertLogEntry>(opts.path, (entry) =>
        typeof entry.dedupKey === 'string' && typeof entry.action === 'string'
          ? alertKey({
              dedupKey: entry.dedupKey,
              action: entry.action as SreAlert['action'],
              id: typeof entry.id === 'string' ? entry.id : undefined,
            })
          : undefined,
      );
    }
  }

  async alert(alert: SreAlert, options: AlertOptions = {}): Promise<void> {
    refuseIfTooLate(`log ${alert.action} for ${alert.controlPlaneId} (dedup ${alert.dedupKey})`, options);
    const key = alertKey(alert);
    const at = new Date().toISOString();
    if (this.file) {
      const wrote = await this.file.appendOnce(key, () => ({ at, ...alert }));
      if (!wrote) return;
    } else {
      if (this.seen.has(key)) return;
      this.seen.add(key);
    }
    this.log(formatAlertLine(alert));
  }
}

/** `[SRE CRITICAL] TRIGGER cp-acme-eu lts-5.8.2: summary (dedup …, workflow …)` */
export function formatAlertLine(alert: SreAlert): string {
  const head = alert.action === 'resolve' ? `[SRE RESOLVED]` : `[SRE ${alert.severity.toUpperCase()}]`;
  return `${head} ${alert.action.toUpperCase()} ${alert.controlPlaneId} ${alert.releaseId}: ${alert.summary} (dedup ${alert.dedupKey}, workflow ${alert.workflowId})`;
}

export function readAlertLog(path: string): Promise<AlertLogEntry[]> {
  return readJsonLines<AlertLogEntry>(path);
}
