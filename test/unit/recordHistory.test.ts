// recordHistory writes test/replay/histories/<workflowType>/<name>.json and never overwrites a recording, except the
// one named by RECORD_HISTORIES_OVERWRITE. A fake handle stands in for a workflow; the files go to a temporary dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import { HISTORIES_DIR, recordHistory } from '../helpers/recordHistory';

type History = temporal.api.history.v1.IHistory;

const ENV_KEYS = ['RECORD_HISTORIES', 'RECORD_HISTORIES_OVERWRITE'] as const;
let savedEnv: Record<string, string | undefined>;
let dir: string;

function startedHistory(workflowType: string, taskQueue = 'q'): History {
  return historyFromJSON({
    events: [
      {
        eventId: '1',
        eventTime: '2026-11-24T14:28:34.545Z',
        eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
        workflowExecutionStartedEventAttributes: {
          workflowType: { name: workflowType },
          taskQueue: { name: taskQueue },
        },
      },
    ],
  });
}

function fakeHandle(history: History): WorkflowHandle & { fetches: number } {
  const handle = {
    workflowId: 'wf-fake',
    fetches: 0,
    async fetchHistory() {
      handle.fetches += 1;
      return history;
    },
  };
  return handle as unknown as WorkflowHandle & { fetches: number };
}

/** A recorded history in the repository, as [`histories/<type>` or `retired/<type>`, `<name>.json`]. */
function anyRecording(): [string, string] {
  for (const top of ['histories', 'retired']) {
    const topDir = path.join(HISTORIES_DIR, '..', top);
    if (!fs.existsSync(topDir)) continue;
    for (const type of fs.readdirSync(topDir).sort()) {
      if (!fs.statSync(path.join(topDir, type)).isDirectory()) continue;
      const file = fs.readdirSync(path.join(topDir, type)).find((f) => f.endsWith('.json'));
      if (file) return [path.join(top, type), file];
    }
  }
  throw new Error('no recorded history under test/replay');
}

const recorded = (...parts: string[]) => fs.readFileSync(path.join(dir, ...parts), 'utf8');

beforeEach(() => {
  savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) delete process.env[k];
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'record-history-'));
});

afterEach(() => {
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

it('does nothing unless RECORD_HISTORIES is set', async () => {
  const handle = fakeHandle(startedHistory('controlPlane'));
  await recordHistory(handle, 'completed', { dir });
  expect(handle.fetches).toBe(0);
  expect(fs.readdirSync(dir)).toEqual([]);
});

it('writes <workflowType>/<name>.json, the type taken from the first event', async () => {
  process.env.RECORD_HISTORIES = '1';
  const history = startedHistory('controlPlane');
  await recordHistory(fakeHandle(history), 'completed', { dir });
  expect(recorded('controlPlane', 'completed.json')).toBe(historyToJSON(history) + '\n');
});

it('writes byte for byte what the recordings under test/replay hold', async () => {
  process.env.RECORD_HISTORIES = '1';
  const [type, name] = anyRecording();
  const original = fs.readFileSync(path.join(HISTORIES_DIR, '..', type, name), 'utf8');
  await recordHistory(fakeHandle(historyFromJSON(JSON.parse(original))), 'copy', { dir });
  const workflowType = path.basename(type);
  expect(recorded(workflowType, 'copy.json')).toBe(original);
});

it('refuses to overwrite an existing recording, and leaves it as it was', async () => {
  process.env.RECORD_HISTORIES = '1';
  await recordHistory(fakeHandle(startedHistory('controlPlane', 'first')), 'completed', { dir });
  const before = recorded('controlPlane', 'completed.json');

  const refusal = await recordHistory(fakeHandle(startedHistory('controlPlane', 'second')), 'completed', { dir }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(refusal).toBeInstanceOf(Error);
  expect((refusal as Error).message).toMatch(/completed\.json exists: recorded histories are never overwritten/);
  expect((refusal as Error).message).toMatch(
    /recordHistory\(handle, 'completed\.v2'\) → controlPlane\/completed\.v2\.json/,
  );
  expect((refusal as Error).message).toMatch(/RECORD_HISTORIES_OVERWRITE=completed allows that one file/);
  expect(recorded('controlPlane', 'completed.json')).toBe(before);

  // The new behaviour goes beside the old one.
  await recordHistory(fakeHandle(startedHistory('controlPlane', 'second')), 'completed.v2', { dir });
  expect(fs.readdirSync(path.join(dir, 'controlPlane')).sort()).toEqual(['completed.json', 'completed.v2.json']);
  expect(recorded('controlPlane', 'completed.json')).toBe(before);
});

it('replaces exactly the recording named by RECORD_HISTORIES_OVERWRITE', async () => {
  process.env.RECORD_HISTORIES = '1';
  await recordHistory(fakeHandle(startedHistory('controlPlane', 'first')), 'completed', { dir });
  await recordHistory(fakeHandle(startedHistory('controlPlane', 'first')), 'deferred', { dir });

  process.env.RECORD_HISTORIES_OVERWRITE = 'completed';
  const replacement = startedHistory('controlPlane', 'second');
  await recordHistory(fakeHandle(replacement), 'completed', { dir });
  expect(recorded('controlPlane', 'completed.json')).toBe(historyToJSON(replacement) + '\n');
  await expect(
    recordHistory(fakeHandle(startedHistory('controlPlane', 'second')), 'deferred', { dir }),
  ).rejects.toThrow(/deferred\.json exists/);
});

it('files the same name under different workflow types separately', async () => {
  process.env.RECORD_HISTORIES = '1';
  await recordHistory(fakeHandle(startedHistory('controlPlane')), 'cancelled', { dir });
  await recordHistory(fakeHandle(startedHistory('fleetRollout')), 'cancelled', { dir });
  expect(fs.readdirSync(dir).sort()).toEqual(['controlPlane', 'fleetRollout']);
});

it('rejects names that are not plain file names, and histories without a started event', async () => {
  process.env.RECORD_HISTORIES = '1';
  for (const name of ['../completed', 'a/b', '.hidden', 'completed.json', '']) {
    await expect(recordHistory(fakeHandle(startedHistory('controlPlane')), name, { dir })).rejects.toThrow(
      /recording name/,
    );
  }
  await expect(recordHistory(fakeHandle({ events: [] }), 'completed', { dir })).rejects.toThrow(
    /does not start with WorkflowExecutionStarted/,
  );
  expect(fs.readdirSync(dir)).toEqual([]);
});
