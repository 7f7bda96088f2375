// The embedded default's "email": every delivered message becomes one JSON line in an outbox file, which the demo
// prints and the tests read. Delivery is idempotent by the message's key, across retries, instances and restarts.
import type { EmailMessage, NotifierPort } from '../activities/ports';
import { KeyedJsonLinesFile, readJsonLines } from './jsonLinesFile';

export interface OutboxEntry {
  key: string;
  deliveredAt: string;
  to: { email: string; name: string };
  subject: string;
  noticeKind: string;
  text: string;
  properties: Record<string, string>;
}

export interface OutboxNotifierOptions {
  /** Called with a one-line summary of each message actually delivered (not of duplicates). */
  echo?: (line: string) => void;
}

export class OutboxNotifier implements NotifierPort {
  readonly channel = 'outbox';
  private readonly file: KeyedJsonLinesFile<OutboxEntry>;

  constructor(
    readonly path: string,
    private readonly opts: OutboxNotifierOptions = {},
  ) {
    this.file = new KeyedJsonLinesFile<OutboxEntry>(path, (entry) =>
      typeof entry.key === 'string' ? entry.key : undefined,
    );
  }

  async send(message: EmailMessage): Promise<{ duplicate: boolean }> {
    let delivered: OutboxEntry | undefined;
    const wrote = await this.file.appendOnce(message.key, (key) => {
      delivered = {
        key,
        deliveredAt: new Date().toISOString(),
        to: { email: message.to.email, name: message.to.name },
        subject: message.subject,
        noticeKind: message.noticeKind,
        text: message.text,
        properties: { ...message.properties },
      };
      return delivered;
    });
    if (wrote && delivered) this.opts.echo?.(formatOutboxLine(delivered));
    return { duplicate: !wrote };
  }
}

/** `[outbox] scheduled → Ada Admin <ada@acme.test>: Subject (key …)` */
export function formatOutboxLine(entry: OutboxEntry): string {
  return `[outbox] ${entry.noticeKind} → ${entry.to.name} <${entry.to.email}>: ${entry.subject} (key ${entry.key})`;
}

/** The messages delivered to an outbox file, in delivery order ([] when there is no file yet). */
export function readOutbox(path: string): Promise<OutboxEntry[]> {
  return readJsonLines<OutboxEntry>(path);
}
