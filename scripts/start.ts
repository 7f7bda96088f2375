// `npm start`: the embedded default. A local Temporal dev server (SQLite under .data/, Web UI on :8233) unless one
// already answers at TEMPORAL_ADDRESS, a worker with the in-process simulated fleet, and the example release event:
// one fleet rollout over examples/fleet.yaml, with live progress per control plane. Ctrl-C stops everything.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { assessEligibility } from '../domain/eligibility';
import { ReleaseSchema } from '../domain/release';
import { parseWith } from '../domain/validation';
import { loadInventoryFile } from '../integrations/fileInventory';
import { loadConfig } from '../workers/config';
import { reachable, startDevServer } from '../workers/devServer';
import { startFleetUpgrade } from '../workers/startFleet';
import { createWorker, wireAdapters } from '../workers/worker';
import { statusQuery, upgradeWorkflowId, type UpgradeStatus } from '../workflows/messages';

const ROOT = path.resolve(__dirname, '..');
const DEMO_DEFAULTS: Record<string, string> = {
  // The demo's development-tier control planes take no notice period, so something happens right away; production
  // and staging keep theirs and wait for their windows.
  NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT: '0',
  NIGHTSHIFT_SIM_ROLLOUT_MS: '1500',
  NIGHTSHIFT_VERIFY_PASSES: '3',
  NIGHTSHIFT_VERIFY_INTERVAL_MS: '500',
  NIGHTSHIFT_VERIFY_TIMEOUT_MS: '8000',
};

function row(s: UpgradeStatus | undefined, id: string, error?: string): string {
  if (!s) return `${id.padEnd(22)} ${error ?? 'starting'}`;
  const versions = Object.entries(s.versionsNow)
    .map(([c, v]) => `${c}=${v}`)
    .join(' ');
  const window = s.window ? s.window.localText : '';
  const outcome = s.outcome ? `${s.outcome}${s.skipReason ? ` (${s.skipReason})` : ''}` : s.paused ? 'PAUSED' : '';
  return `${id.padEnd(22)} ${s.stage.padEnd(19)} ${outcome.padEnd(34)} ${window.padEnd(58)} ${versions}`;
}

async function main(): Promise<void> {
  // Scripts and CI can ask the demo to stop once every upgrade has finished or is waiting for its window.
  const exitWhenSettled = Boolean(process.env.NIGHTSHIFT_DEMO_EXIT_WHEN_SETTLED);
  delete process.env.NIGHTSHIFT_DEMO_EXIT_WHEN_SETTLED;
  for (const [k, v] of Object.entries(DEMO_DEFAULTS)) process.env[k] ??= v;
  const config = loadConfig();
  Runtime.install({ logger: new DefaultLogger('ERROR') }); // failures show in the table and the UI
  let server: ChildProcess | undefined;
  if (await reachable(config.TEMPORAL_ADDRESS)) console.log(`Using the Temporal server at ${config.TEMPORAL_ADDRESS}`);
  else {
    console.log(`Starting a Temporal dev server on ${config.TEMPORAL_ADDRESS} (data in .data/temporal.db)...`);
    server = await startDevServer(config.TEMPORAL_ADDRESS, {
      dbFile: path.join(ROOT, '.data/temporal.db'),
      uiPort: 8233,
    });
  }
  const logs: string[] = [];
  const wiring = await wireAdapters(config, (line) => logs.push(line));
  const nativeConnection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await createWorker({
    connection: nativeConnection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    deps: wiring.deps,
  });
  const running = worker.run();
  const client = new Client({
    connection: await Connection.connect({ address: config.TEMPORAL_ADDRESS }),
    namespace: config.TEMPORAL_NAMESPACE,
  });

  const release = parseWith(
    ReleaseSchema,
    JSON.parse(fs.readFileSync(path.join(ROOT, 'examples/release-lts-5.8.2.json'), 'utf8')),
    'examples/release-lts-5.8.2.json',
  );
  const inventory = loadInventoryFile(config.NIGHTSHIFT_INVENTORY);
  const ids = inventory.controlPlanes.map((cp) => cp.id);
  // What the fleet will skip, and why: shown in the table for control planes that get no upgrade workflow.
  const skipped = new Map<string, string>();
  for (const cp of inventory.controlPlanes) {
    const d = assessEligibility(cp, release);
    if (!d.eligible && d.reason !== 'config-incompatible') skipped.set(cp.id, `skipped (${d.reason})`);
  }
  // The release event: one fleet rollout, which starts a control-plane upgrade per eligible control plane.
  const fired = await startFleetUpgrade(client, {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    release,
    requestedBy: 'npm start',
  });
  console.log(
    `Release ${release.id}: fleet rollout ${fired.workflowId} ${fired.result} over ${ids.length} control planes. Web UI: http://localhost:8233`,
  );
  console.log(`Fleet status: npm run sre -- status --fleet ${release.id}`);
  console.log(`Pause one:    npm run sre -- pause <control-plane> --reason demo`);
  console.log('Stop: Ctrl-C\n');

  let stopping = false;
  const stop = () => {
    stopping = true;
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const started = Date.now();
  let reportedSettled = false;
  while (!stopping) {
    const rows = await Promise.all(
      ids.map(async (id) => {
        if (skipped.has(id)) return { id, s: undefined, error: skipped.get(id) };
        try {
          return { id, s: await client.workflow.getHandle(upgradeWorkflowId(id, release.id)).query(statusQuery) };
        } catch (err) {
          return { id, s: undefined, error: (err as Error).message };
        }
      }),
    );
    const done = rows.filter((r) => r.s?.outcome || skipped.has(r.id)).length;
    const waiting = rows.filter((r) => r.s?.stage === 'waiting-for-window').length;
    const bar = '#'.repeat(Math.round((done / ids.length) * 30)).padEnd(30, '.');
    console.log(`\n[${bar}] ${done}/${ids.length} finished, ${waiting} waiting for their window`);
    for (const r of rows) console.log(row(r.s, r.id, r.error));
    for (const line of logs.splice(0)) console.log(`  ${line}`);
    if (!reportedSettled && done + waiting === ids.length) {
      reportedSettled = true;
      console.log(
        `\nEvery control plane is finished or waiting for its window after ${((Date.now() - started) / 1000).toFixed(1)}s.`,
      );
      if (exitWhenSettled) stop();
    }
    for (let i = 0; i < 20 && !stopping; i++) await new Promise((r) => setTimeout(r, 100));
  }
  console.log('\nStopping worker and server...');
  worker.shutdown();
  await running;
  await nativeConnection.close();
  await wiring.close();
  server?.kill('SIGINT');
}

main().catch((err: unknown) => {
  console.error(`npm start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
