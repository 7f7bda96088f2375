// Records a workflow's history for the replay suite (test/replay), as
// test/replay/histories/<workflowType>/<name>.json. Only when RECORD_HISTORIES is set (`npm run record-histories`);
// otherwise a no-op, so workflow tests can call it unconditionally.
//
// A recording is never overwritten: workflows started by a released version replay against it. A changed workflow
// gets a new recording beside the old one, under a new name (`completed.v2`). The one escape hatch is
// RECORD_HISTORIES_OVERWRITE=<name>, which lets exactly that one recording be replaced, for a recording that no
// released version produced (say, one added earlier in the same unmerged change).
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

export const HISTORIES_DIR = path.resolve(__dirname, '../replay/histories');

/** File and folder names: no path separators, no leading dot. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface RecordHistoryOptions {
  /** Where the `<workflowType>/` folders go; tests point it at a temporary directory. */
  dir?: string;
}

export async function recordHistory(
  handle: WorkflowHandle,
  name: string,
  options: RecordHistoryOptions = {},
): Promise<void> {
  if (!process.env.RECORD_HISTORIES) return;
  if (!SAFE_NAME.test(name) || name.endsWith('.json')) {
    throw new Error(`recording name ${JSON.stringify(name)}: use letters, digits, '.', '-', '_' and no .json suffix`);
  }
  const history = await handle.fetchHistory();
  const workflowType = history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
  if (!workflowType || !SAFE_NAME.test(workflowType)) {
    throw new Error(
      `${handle.workflowId}: the history does not start with WorkflowExecutionStarted naming a workflow type`,
    );
  }
  const root = options.dir ?? HISTORIES_DIR;
  const file = path.join(root, workflowType, `${name}.json`);
  const overwrite = process.env.RECORD_HISTORIES_OVERWRITE === name;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    // 'wx' fails when the file exists, atomically: no check-then-write race between test files.
    fs.writeFileSync(file, historyToJSON(history) + '\n', { flag: overwrite ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const shown = path.relative(process.cwd(), file) || file;
    throw new Error(
      `${shown} exists: recorded histories are never overwritten, because workflows started by a released version ` +
        `replay against them. A changed workflow gets a new recording beside the old one: record it under a new ` +
        `name, e.g. recordHistory(handle, '${name}.v2') → ${workflowType}/${name}.v2.json. Only a recording that no ` +
        `released version produced may be replaced: RECORD_HISTORIES_OVERWRITE=${name} allows that one file.`,
      { cause: err },
    );
  }
}
