// Replays recorded histories (one per outcome) against today's workflow code: a change that would break running
// workflows fails here. Re-record with `npm run record-histories` only for deliberate, versioned changes.
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { workflowsPath } from '../../workers/worker';

const dir = path.join(__dirname, 'histories');
const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
let bundle: WorkflowBundle;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  bundle = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: new DefaultLogger('WARN') });
});

it('has a recorded history for every outcome', () => {
  expect(files.sort()).toEqual(
    [
      'cancelled-after-change.json',
      'cancelled-before-change.json',
      'completed.json',
      'deferred.json',
      'fleet-cancelled.json',
      'fleet-completed.json',
      'health-warn-resumed.json',
      'rolled-back.json',
      'skipped.json',
      'upgrade-now.json',
    ].sort(),
  );
});

it.each(files)('replays %s deterministically', async (file) => {
  const history = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  await expect(Worker.runReplayHistory({ workflowBundle: bundle }, history, file)).resolves.toBeUndefined();
});
