// An append-only JSON-lines file with "append once per key" semantics, shared by the outbox notifier and the log
// alerter. Keys already in the file are found by reading it: lazily on first use, then only the bytes appended since
// (by this or any other writer), so a restarted process, or a second instance on the same file, never writes a key
// twice. Appends to one path are serialized within the process, whichever instance makes them.
//
// Not a cross-process lock: two processes appending the same key at the same instant could both write it. The
// embedded default runs one worker per file, which is what this is for.
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** One queue per absolute path, shared by every instance in this process. */
const queues = new Map<string, Promise<unknown>>();

function serialize<T>(file: string, task: () => Promise<T>): Promise<T> {
  const previous = queues.get(file) ?? Promise.resolve();
  const next = previous.then(task, task);
  const settled = next.catch(() => undefined);
  queues.set(file, settled);
  void settled.then(() => {
    if (queues.get(file) === settled) queues.delete(file);
  });
  return next;
}

async function fileSize(file: string): Promise<number | undefined> {
  try {
    return (await fs.stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function readRange(file: string, start: number, end: number): Promise<Buffer> {
  const handle = await fs.open(file, 'r');
  try {
    const buffer = Buffer.alloc(end - start);
    let read = 0;
    while (read < buffer.length) {
      const { bytesRead } = await handle.read(buffer, read, buffer.length - read, start + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return buffer.subarray(0, read);
  } finally {
    await handle.close();
  }
}

export class KeyedJsonLinesFile<T extends object> {
  readonly path: string;
  private readonly keys = new Set<string>();
  /** Bytes of the file already indexed (always at a line boundary). */
  private indexed = 0;

  constructor(
    file: string,
    private readonly keyOf: (entry: Record<string, unknown>) => string | undefined,
  ) {
    this.path = path.resolve(file);
  }

  /** Appends `entry` unless an entry with `key` is already in the file. Resolves true when it wrote. */
  appendOnce(key: string, entry: (key: string) => T): Promise<boolean> {
    return serialize(this.path, async () => {
      const size = await this.catchUp();
      if (this.keys.has(key)) return false;
      await fs.mkdir(path.dirname(this.path), { recursive: true });
      // A writer that crashed mid-line leaves no trailing newline: start on a fresh line rather than corrupt ours.
      const needsNewline = size > this.indexed;
      const line = `${needsNewline ? '\n' : ''}${JSON.stringify(entry(key))}\n`;
      await fs.appendFile(this.path, line, 'utf8');
      this.keys.add(key);
      this.indexed = size + Buffer.byteLength(line);
      return true;
    });
  }

  /** Indexes what was appended since the last look. Returns the file's size now. */
  private async catchUp(): Promise<number> {
    const size = (await fileSize(this.path)) ?? 0;
    if (size < this.indexed) {
      // Truncated or replaced: index it again from the start.
      this.keys.clear();
      this.indexed = 0;
    }
    if (size === this.indexed) return size;
    const chunk = (await readRange(this.path, this.indexed, size)).toString('utf8');
    const lastNewline = chunk.lastIndexOf('\n');
    if (lastNewline < 0) return size; // only a partial line so far
    for (const line of chunk.slice(0, lastNewline).split('\n')) {
      const key = parseKey(line, this.keyOf);
      if (key !== undefined) this.keys.add(key);
    }
    this.indexed += Buffer.byteLength(chunk.slice(0, lastNewline + 1));
    return size;
  }
}

function parseKey(line: string, keyOf: (entry: Record<string, unknown>) => string | undefined): string | undefined {
  if (!line.trim()) return undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    return parsed && typeof parsed === 'object' ? keyOf(parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined; // a torn line from a crash: it was never delivered
  }
}

/**
 * Every JSON line of `file` ([] when it does not exist). Lines that are not JSON are skipped: they can only be torn
 * by a crash mid-append (the writer then starts a fresh line), and such an entry was never delivered.
 */
export async function readJsonLines<T>(file: string): Promise<T[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const entries: T[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      entries.push(JSON.parse(line) as T);
    } catch {
      // torn line, see above
    }
  }
  return entries;
}
