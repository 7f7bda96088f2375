// The import-direction rules (eslint.config.mjs, decision 0013) really fire: a real file of each layer, linted with
// one forbidden import added, gets the restricted-import error; the same file as it is gets none.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const RULE = '@typescript-eslint/no-restricted-imports';

const cases: [file: string, forbidden: string][] = [
  ['domain/model.ts', "import type { ActivityDeps } from '../activities/deps';"],
  ['domain/model.ts', "import { TASK_QUEUE_DEFAULT } from '../workflows/messages';"],
  ['activities/notify.ts', "import { OutboxNotifier } from '../integrations/outboxNotifier';"],
  ['integrations/webhookServer.ts', "import type { FleetStartResult } from '../client/startFleet';"],
  ['integrations/logAlerter.ts', "import { loadConfig } from '../config/config';"],
  ['config/duration.ts', "import { connectClient } from '../client/temporalClient';"],
  ['client/startFleet.ts', "import { createWorker } from '../worker/worker';"],
  ['client/startFleet.ts', "import { parseFlags } from '../cli/cliArgs';"],
  ['worker/metrics.ts', "import { parseFlags } from '../cli/cliArgs';"],
  ['cli/cliArgs.ts', "import { freePort } from '../test/helpers/ports';"],
  ['worker/metrics.ts', "import { startDevServer } from '../scripts/devServer';"],
  ['workflows/catchUp.ts', "import { loadConfig } from '../config/config';"],
];

type Message = { ruleId: string | null; message: string };

/** Every case linted twice (as the file is, and with the forbidden import added) in one ESLint process. */
function lintAll(): Message[][] {
  const probes = cases.flatMap(([file, forbidden]) => {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    return [
      { file, text },
      { file, text: `${forbidden}\n${text}` },
    ];
  });
  const run = spawnSync(process.execPath, [path.join(ROOT, 'test/helpers/lintProbe.mjs')], {
    cwd: ROOT,
    input: JSON.stringify(probes),
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (run.status !== 0) throw new Error(`lintProbe.mjs exited ${run.status}: ${run.stderr}`);
  return JSON.parse(run.stdout) as Message[][];
}

const restricted = (messages: Message[]) => messages.filter((m) => m.ruleId === RULE).map((m) => m.message);

describe('import-direction lint rules', () => {
  let results: Message[][];
  beforeAll(() => {
    results = lintAll();
  }, 120_000);

  it.each(cases.map((c, i) => [...c, i] as const))('%s may not: %s', (_file, _forbidden, i) => {
    expect(restricted(results[2 * i]!)).toEqual([]);
    const messages = restricted(results[2 * i + 1]!);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/restricted/);
  });
});
