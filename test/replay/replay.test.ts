// Replays every recorded history against today's workflow code: a change that would break a running workflow fails
// here.
//
// - Recordings live in test/replay/histories/<workflowType>/<name>.json; every .json found there is replayed. They
//   are written by recordHistory (test/helpers/recordHistory.ts) under `npm run record-histories`, which never
//   overwrites one: a changed workflow gets a new recording beside the old ones, because workflows started by the
//   older code replay against the older recordings.
// - test/replay/required.json lists, per workflow type, the recordings that must exist (one per outcome worth
//   protecting); a missing one fails. It is a floor, not the list: whatever else is found is replayed too.
// - test/replay/retired/<workflowType>/ holds the histories of workflow types that no longer exist in the code. They
//   are kept for the record and not replayed: this suite reads only histories/ (see retired/README.md).
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { workflowsPath } from '../../worker/worker';
import { workflowBundleOptions } from '../../worker/workflowBundle';

const historiesDir = path.join(__dirname, 'histories');

/** Every .json file under `dir`, as a `/`-separated path relative to it. */
function findJson(dir: string, prefix = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return findJson(path.join(dir, entry.name), rel);
    return entry.isFile() && entry.name.endsWith('.json') ? [rel] : [];
  });
}

const files = findJson(historiesDir).sort();
const required: Record<string, unknown> = JSON.parse(fs.readFileSync(path.join(__dirname, 'required.json'), 'utf8'));
const readHistory = (file: string) => JSON.parse(fs.readFileSync(path.join(historiesDir, file), 'utf8'));

let bundle: WorkflowBundle;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  bundle = await bundleWorkflowCode(workflowBundleOptions(workflowsPath(), new DefaultLogger('WARN')));
});

it('required.json maps each workflow type to recording names (no .json suffix)', () => {
  expect(Object.keys(required).length).toBeGreaterThan(0);
  const malformed = Object.entries(required).filter(
    ([, names]) =>
      !Array.isArray(names) || names.some((n) => typeof n !== 'string' || n.endsWith('.json') || n.includes('/')),
  );
  expect(malformed).toEqual([]);
});

it.each(Object.entries(required))('has every required recording of %s', (type, names) => {
  const missing = (names as string[]).filter((name) => !files.includes(`${type}/${name}.json`));
  expect(missing).toEqual([]);
});

it.each(files)('%s is filed under its workflow type', (file) => {
  const parts = file.split('/');
  expect(parts).toHaveLength(2); // histories/<workflowType>/<name>.json, nothing flat, nothing deeper
  const started = readHistory(file).events?.[0]?.workflowExecutionStartedEventAttributes;
  expect(started?.workflowType?.name).toBe(parts[0]);
});

it.each(files)('replays %s deterministically', async (file) => {
  await expect(Worker.runReplayHistory({ workflowBundle: bundle }, readHistory(file), file)).resolves.toBeUndefined();
});
