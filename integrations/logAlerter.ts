// The embedded default's SRE pager: a readable line in the worker's log and, optionally, one JSON line per alert in
// a file. A repeat of the same dedupKey + action (an activity retry) is written once, like PagerDuty's dedup_key.
import type { AlerterPort } from '../activities/ports';
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

  async alert(alert: SreAlert): Promise<void> {
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
