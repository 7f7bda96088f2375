import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EmailMessage } from '../../../activities/ports';
import { OutboxNotifier, readOutbox } from '../../../integrations/outboxNotifier';
import { tempDir } from './fixtures';

const { dir, cleanup } = tempDir('outbox');
afterAll(cleanup);

const message = (key: string, subject = `Upgrade ${key}`): EmailMessage => ({
  key,
  to: { email: 'ada@acme.test', name: 'Ada Admin' },
  subject,
  text: `Dear Ada,\n${subject}.`,
  properties: { controlPlaneId: 'cp-acme', release: 'lts-5.8.2' },
  noticeKind: 'scheduled',
});

describe('OutboxNotifier', () => {
  it('appends one JSON line per message, creating parent directories, and echoes deliveries', async () => {
    const path = join(dir, 'nested', 'deeper', 'outbox.jsonl');
    const echoed: string[] = [];
    const outbox = new OutboxNotifier(path, { echo: (line) => echoed.push(line) });
    expect(outbox.channel).toBe('outbox');
    const before = Date.now();
    expect(await outbox.send(message('k1'))).toEqual({ duplicate: false });
    expect(await outbox.send(message('k1', 'a retry with other text'))).toEqual({ duplicate: true });

    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines).toHaveLength(2); // one line and the final newline
    const [entry] = await readOutbox(path);
    expect(entry).toEqual({
      key: 'k1',
      deliveredAt: expect.any(String),
      to: { email: 'ada@acme.test', name: 'Ada Admin' },
      subject: 'Upgrade k1',
      noticeKind: 'scheduled',
      text: 'Dear Ada,\nUpgrade k1.',
      properties: { controlPlaneId: 'cp-acme', release: 'lts-5.8.2' },
    });
    expect(Date.parse(entry!.deliveredAt)).toBeGreaterThanOrEqual(before - 1);
    expect(echoed).toEqual(['[outbox] scheduled → Ada Admin <ada@acme.test>: Upgrade k1 (key k1)']);
  });

  it('does not deliver a key twice across instances and restarts', async () => {
    const path = join(dir, 'two-instances.jsonl');
    const a = new OutboxNotifier(path);
    const b = new OutboxNotifier(path);
    expect(await b.send(message('warm-up'))).toEqual({ duplicate: false }); // b has read the file before a writes
    expect(await a.send(message('k1'))).toEqual({ duplicate: false });
    expect(await b.send(message('k1'))).toEqual({ duplicate: true });
    expect(await a.send(message('warm-up'))).toEqual({ duplicate: true });
    const restarted = new OutboxNotifier(path);
    expect(await restarted.send(message('k1'))).toEqual({ duplicate: true });
    expect(await restarted.send(message('k2'))).toEqual({ duplicate: false });
    expect((await readOutbox(path)).map((e) => e.key)).toEqual(['warm-up', 'k1', 'k2']);
  });

  it('delivers each key once under concurrent sends, from one or two instances', async () => {
    const path = join(dir, 'concurrent.jsonl');
    const a = new OutboxNotifier(path);
    const b = new OutboxNotifier(path);
    const keys = ['k1', 'k2', 'k3', 'k1', 'k2', 'k1'];
    const results = await Promise.all(keys.flatMap((key) => [a.send(message(key)), b.send(message(key))]));
    expect(results.filter((r) => !r.duplicate)).toHaveLength(3);
    expect(results.filter((r) => r.duplicate)).toHaveLength(9);
    expect((await readOutbox(path)).map((e) => e.key)).toEqual(['k1', 'k2', 'k3']);
  });

  it('sees keys another writer appended, and starts a fresh line after a torn one', async () => {
    const path = join(dir, 'torn.jsonl');
    const outbox = new OutboxNotifier(path);
    await outbox.send(message('k1'));
    appendFileSync(
      path,
      `${JSON.stringify({ ...message('k-other'), deliveredAt: new Date().toISOString() })}\n{"key":"k-torn","sub`,
    );
    expect(await outbox.send(message('k-other'))).toEqual({ duplicate: true });
    expect(await outbox.send(message('k-torn'))).toEqual({ duplicate: false }); // never delivered: it was torn
    expect((await readOutbox(path)).map((e) => e.key)).toEqual(['k1', 'k-other', 'k-torn']);
  });

  it('re-reads a file that was truncated', async () => {
    const path = join(dir, 'truncated.jsonl');
    const outbox = new OutboxNotifier(path);
    await outbox.send(message('k1'));
    writeFileSync(path, '');
    expect(await outbox.send(message('k1'))).toEqual({ duplicate: false });
  });

  it('readOutbox returns [] for a missing file', async () => {
    expect(await readOutbox(join(dir, 'missing.jsonl'))).toEqual([]);
  });
});
