// A worker that cannot start says why in one line naming the setting, with no stack trace (it failed with
// "nightshift worker failed: Error: ENOENT … at …" for a missing inventory file before).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

function startWorker(env: Record<string, string>, nodeOptions: string[] = []) {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-worker-start-'));
  try {
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_') && !k.startsWith('NIGHTSHIFT_')),
    );
    return spawnSync(
      process.execPath,
      [...nodeOptions, '--import', require.resolve('tsx'), path.join(ROOT, 'cli/nightshift.ts'), 'worker'],
      {
        cwd,
        env: { ...clean, ...env },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

describe('nightshift worker start-up errors', () => {
  it.each([
    ['/does/not/exist.yaml', 'no such file'],
    [os.tmpdir(), 'a directory, not a file'],
  ])('NIGHTSHIFT_INVENTORY = %s: one line naming the setting, exit 1', (file, why) => {
    const run = startWorker({ NIGHTSHIFT_INVENTORY: file, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim()).toBe(
      `nightshift worker: configuration: NIGHTSHIFT_INVENTORY = ${JSON.stringify(file)}: ${why}`,
    );
  });

  it('a workflow cache that cannot fit the heap limit: one line naming both settings, exit 1', () => {
    const run = startWorker({ NIGHTSHIFT_WORKFLOW_CACHE_SIZE: '5000', TEMPORAL_ADDRESS: '127.0.0.1:1' }, [
      '--max-old-space-size=384',
    ]);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    const line = run.stderr.trim();
    expect(line.split('\n')).toHaveLength(1);
    expect(line).toMatch(
      /^nightshift worker: configuration: NIGHTSHIFT_WORKFLOW_CACHE_SIZE = 5000 needs about 1032 MiB of V8 heap .* heap limit of \d+ MiB \(--max-old-space-size in NODE_OPTIONS\)/,
    );
  });
});
