// `npm start`: the embedded default. A local Temporal dev server (SQLite under .data/, Web UI on :8233) unless one
// already answers at TEMPORAL_ADDRESS, a worker with the in-process simulated fleet, the release-event webhook
// (in-process, on 127.0.0.1), and the example release event POSTed to it signed, as a release pipeline would: one
// fleet rollout over examples/fleet.yaml, with the fleet's progress and each control plane's, live. Ctrl-C stops
// everything; a second `npm start` finds the rollout in .data/ and shows it again.
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { describeMigration } from '../domain/compatibility';
import { ReleaseSchema } from '../domain/release';
import { parseWith } from '../domain/validation';
import { loadInventoryFile } from '../integrations/fileInventory';
import { SIGNATURE_HEADER, signReleaseEvent, TIMESTAMP_HEADER } from '../integrations/releaseEventAuth';
import { createWebhookServer, RELEASE_EVENTS_PATH } from '../integrations/webhookServer';
import { CATCH_UP_SCHEDULE_ID, ensureCatchUpScheduleExists } from '../client/catchUpSchedule';
import { loadConfig } from '../config/config';
import { reachable, startDevServer } from './devServer';
import { startFleetUpgrade } from '../client/startFleet';
import { connectClient } from '../client/temporalClient';
import { connectWorker, createWorkers, wireAdapters } from '../worker/worker';
import {
  controlPlaneStatusQuery,
  controlPlaneWorkflowId,
  fleetStatusQuery,
  fleetWorkflowId,
  type ControlPlaneStatus,
  type FleetStatus,
  type UpgradeStatus,
} from '../workflows/messages';

const ROOT = path.resolve(__dirname, '..');
const RELEASE_FILE = 'examples/release-lts-5.8.2.json';
const UI_PORT = 8233;
const POLL_MS = 1000;
const DEMO_DEFAULTS: Record<string, string> = {
  // The demo's development-tier control planes take no notice period, so something happens right away; production
  // and staging keep theirs and wait for their windows.
  NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT: '0',
  NIGHTSHIFT_SIM_ROLLOUT_MS: '1500',
  NIGHTSHIFT_VERIFY_PASSES: '3',
  NIGHTSHIFT_VERIFY_INTERVAL_MS: '500',
  NIGHTSHIFT_VERIFY_SOAK_MS: '1000',
  NIGHTSHIFT_VERIFY_TIMEOUT_MS: '8000',
  NIGHTSHIFT_TYK_CHECK_DURATION_MS: '500',
};

/** Thrown by `checkpoint()` when Ctrl-C arrives during start-up: go straight to the clean-up. */
class Stopped extends Error {}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const counts = (rec: Record<string, number | undefined>) =>
  Object.entries(rec)
    .filter(([, n]) => n)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';

function fleetLine(f: FleetStatus | undefined, error?: string): string {
  if (!f) return `fleet: ${error ?? 'starting'}`;
  const { waitingForWindow, waitingForSlot, changing, starting } = f.inFlight;
  const skipped = counts(f.eligibility.skipped);
  const flags = [
    f.halted
      ? `HALTED (${f.halted.reason}) — npm run sre -- approve --fleet ${f.releaseId} --reason ...`
      : 'not halted',
    f.freeze ? `FROZEN until ${f.freeze.until}` : 'not frozen',
    ...(f.paused ? ['PAUSED'] : []),
    ...(f.cancel ? ['cancel requested'] : []),
    ...(f.supersededBy ? [`superseded by ${f.supersededBy}`] : []),
  ];
  return [
    `fleet ${f.workflowId}: stage ${f.stage}; ${f.eligibility.eligible} eligible of ${f.eligibility.listed} listed (skipped: ${skipped})`,
    `  in flight: ${starting ? `${starting} starting, ` : ''}${waitingForWindow} waiting for window, ${waitingForSlot} waiting for a slot, ${changing} changing; ` +
      `outcomes: ${counts(f.outcomes)}; failures ${f.failureCount}; ${flags.join(', ')}`,
  ].join('\n');
}

/** One control plane as the demo table shows it, for this release: in progress, finished, or why not. */
interface Row {
  stage: string;
  outcome?: string;
  versions: Record<string, string>;
  upgrade?: UpgradeStatus;
  reason?: string;
  endedAt?: string;
}

function rowOf(cp: ControlPlaneStatus, releaseId: string): Row {
  const u = cp.upgrade;
  if (u?.releaseId === releaseId)
    return { stage: u.stage, outcome: u.outcome, versions: u.versionsNow, upgrade: u, reason: u.reason };
  const done = cp.recent.filter((r) => r.releaseId === releaseId).at(-1);
  if (done) {
    const outcome = `${done.outcome}${done.skipReason ? ` (${done.skipReason})` : ''}`;
    return { stage: done.outcome, outcome, versions: done.versions, reason: done.reason, endedAt: done.endedAt };
  }
  const why = cp.whyNot[0];
  return { stage: cp.state, versions: cp.installed, reason: why ? `${why.code}: ${why.detail}` : undefined };
}

function rows(r: Row | undefined, id: string, note?: string): string[] {
  if (!r) return [`${id.padEnd(20)} ${note ?? 'starting'}`];
  const versions = Object.entries(r.versions)
    .map(([c, v]) => `${c}=${v}`)
    .join(' ');
  const s = r.upgrade;
  const outcome = r.outcome ?? (s?.paused ? 'PAUSED' : '');
  const lines = [`${id.padEnd(20)} ${r.stage.padEnd(18)} ${outcome.padEnd(30)} ${versions}`];
  if (s?.window && !s.outcome) lines.push(`${''.padEnd(20)} window ${s.window.localText} = ${s.window.utcText}`);
  const migrations = s?.changes.flatMap((c) => c.configMigrations ?? []) ?? [];
  if (migrations.length > 0)
    lines.push(
      `${''.padEnd(20)} config key renamed, rewritten with the Gateway: ${migrations.map(describeMigration).join(', ')}`,
    );
  if (r.outcome && !r.outcome.startsWith('completed') && r.reason) {
    const reason = r.reason.length > 150 ? `${r.reason.slice(0, 149)}…` : r.reason;
    lines.push(`${''.padEnd(20)} why: ${reason}`);
  }
  return lines;
}

/** When the control plane got its outcome for this release. */
function finishedAt(r: Row): number {
  const t = r.endedAt ? Date.parse(r.endedAt) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

function curlCommand(port: number, secretNote: string): string {
  return [
    `  ${secretNote}`,
    `  body=$(cat ${RELEASE_FILE}); ts=$(date +%s)`,
    `  sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$SECRET" -hex | sed 's/^.* //')`,
    `  curl -sS -H "X-Nightshift-Timestamp: $ts" -H "X-Nightshift-Signature: v1=$sig" \\`,
    `    -H 'Content-Type: application/json' --data-binary "$body" http://127.0.0.1:${port}${RELEASE_EVENTS_PATH}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const t0 = Date.now();
  // Scripts and CI can ask the demo to stop once every upgrade has finished or is waiting for its window.
  const exitWhenSettled = Boolean(process.env.NIGHTSHIFT_DEMO_EXIT_WHEN_SETTLED);
  delete process.env.NIGHTSHIFT_DEMO_EXIT_WHEN_SETTLED;
  for (const [k, v] of Object.entries(DEMO_DEFAULTS)) process.env[k] ??= v;
  const config = loadConfig();
  // Failures show in the table and the UI. No shutdown signals: Ctrl-C is handled below, in order.
  // The SDK core's own warnings (e.g. polls retried while the server stops) are not shown either.
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    shutdownSignals: [],
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } },
  });

  // Ctrl-C (or SIGTERM) at any point stops everything started so far, in reverse order; a second one forces it.
  let stopping = false;
  let stoppingSince = 0;
  let wake: (() => void) | undefined;
  let signalStop: () => void = () => undefined;
  const stopped = new Promise<undefined>((resolve) => (signalStop = () => resolve(undefined)));
  const onSignal = (signal: NodeJS.Signals) => {
    // A terminal's Ctrl-C reaches this process twice at once (directly, and relayed by npm/tsx): that is one.
    if (stopping && Date.now() - stoppingSince < 2000) return;
    if (stopping) {
      console.log(`\n${signal} again: exiting without waiting.`);
      process.exit(130);
    }
    stopping = true;
    stoppingSince = Date.now();
    signalStop();
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const checkpoint = () => {
    if (stopping) throw new Stopped();
  };
  const cleanups: { what: string; run: () => Promise<unknown> }[] = [];

  try {
    let server: ChildProcess | undefined;
    if (await reachable(config.TEMPORAL_ADDRESS))
      console.log(`Using the Temporal server at ${config.TEMPORAL_ADDRESS}`);
    else {
      console.log(`Starting a Temporal dev server on ${config.TEMPORAL_ADDRESS} (data in .data/temporal.db)...`);
      server = await startDevServer(config.TEMPORAL_ADDRESS, {
        dbFile: path.join(ROOT, '.data/temporal.db'),
        uiPort: UI_PORT,
      });
      const child = server;
      cleanups.push({
        what: 'Temporal dev server',
        run: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGINT');
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
          clearTimeout(timer);
        },
      });
    }
    checkpoint();

    const logs: string[] = [];
    const wiring = await wireAdapters(config, (line) => logs.push(line));
    cleanups.push({ what: 'simulated fleet', run: () => wiring.close() });
    const nativeConnection = await connectWorker(config);
    cleanups.push({ what: 'worker connection', run: () => nativeConnection.close() });
    const worker = await createWorkers({
      connection: nativeConnection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      fleetTaskQueue: config.fleetTaskQueue,
      deps: wiring.deps,
      extra: { maxCachedWorkflows: config.NIGHTSHIFT_WORKFLOW_CACHE_SIZE },
    });
    const running = worker.run();
    cleanups.push({
      what: 'worker',
      run: async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
      },
    });
    const { client, close: closeClient } = await connectClient(config);
    cleanups.push({ what: 'client connection', run: closeClient });
    const schedule = await ensureCatchUpScheduleExists(client, { taskQueue: config.TEMPORAL_TASK_QUEUE });
    console.log(
      `Catch-up schedule ${CATCH_UP_SCHEDULE_ID}: ${schedule === 'exists' ? 'exists' : `${schedule.result}, every ${schedule.everyMinutes} min`}`,
    );
    checkpoint();

    // The release-event webhook, as in production (npm run webhook), in this process.
    const generated = config.NIGHTSHIFT_WEBHOOK_SECRETS.length === 0;
    const secrets = generated ? [crypto.randomBytes(24).toString('hex')] : config.NIGHTSHIFT_WEBHOOK_SECRETS;
    const secret = secrets[0]!;
    const webhook: http.Server = createWebhookServer({
      secrets,
      log: (line) => logs.push(`webhook: ${line}`),
      start: (release, rollout) =>
        startFleetUpgrade(client, {
          taskQueue: config.fleetTaskQueue,
          release,
          rollout,
          requestedBy: 'webhook (npm start)',
        }),
    });
    await new Promise<void>((resolve, reject) => {
      webhook.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          err.code === 'EADDRINUSE'
            ? new Error(
                `webhook: port ${config.NIGHTSHIFT_WEBHOOK_PORT} is in use (another npm start or npm run webhook?); ` +
                  'set NIGHTSHIFT_WEBHOOK_PORT to another port',
              )
            : err,
        ),
      );
      webhook.listen(config.NIGHTSHIFT_WEBHOOK_PORT, '127.0.0.1', () => resolve());
    });
    cleanups.push({
      what: 'webhook',
      run: () =>
        new Promise<void>((resolve) => {
          webhook.close(() => resolve());
          webhook.closeAllConnections();
        }),
    });
    const address = webhook.address();
    const port = typeof address === 'object' && address ? address.port : config.NIGHTSHIFT_WEBHOOK_PORT;
    const webhookUrl = `http://127.0.0.1:${port}${RELEASE_EVENTS_PATH}`;
    console.log(
      `Webhook listening on ${webhookUrl} (${generated ? 'demo secret generated for this run' : 'secrets from NIGHTSHIFT_WEBHOOK_SECRETS'})`,
    );
    checkpoint();

    // The release event: the example file's exact bytes, signed, POSTed to the webhook.
    const rawBody = fs.readFileSync(path.join(ROOT, RELEASE_FILE), 'utf8');
    const release = parseWith(ReleaseSchema, JSON.parse(rawBody), RELEASE_FILE);
    const timestamp = Math.floor(Date.now() / 1000);
    const firedAt = Date.now();
    const response = await fetch(webhookUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [TIMESTAMP_HEADER]: String(timestamp),
        [SIGNATURE_HEADER]: signReleaseEvent(secret, timestamp, rawBody),
      },
      body: rawBody,
    });
    const answerText = await response.text();
    console.log(`POST ${RELEASE_FILE} (signed) → ${response.status} ${answerText}`);
    for (const line of logs.splice(0)) console.log(`  ${line}`);
    if (response.status !== 200 && response.status !== 202)
      throw new Error(`the webhook refused the release event (${response.status}): ${answerText}`);
    const answer = JSON.parse(answerText) as { result: string; workflowId: string };
    const fresh = answer.result === 'started';
    if (!fresh)
      console.log(
        `The rollout of ${release.id} already exists (${answer.result}; its data is in .data/): nothing new started, ` +
          `showing its progress. For a fresh demo: Ctrl-C, rm -rf .data, npm start.`,
      );

    const workflowId = fleetWorkflowId(release.id);
    const ns = config.TEMPORAL_NAMESPACE;
    console.log(`\nFleet rollout ${workflowId} in the Web UI:`);
    console.log(`  http://localhost:${UI_PORT}/namespaces/${ns}/workflows/${encodeURIComponent(workflowId)}`);
    console.log('Fire the release event again (answers 200, the rollout exists already):');
    console.log(
      curlCommand(
        port,
        generated
          ? `SECRET=${secret}   # this run's demo secret; set NIGHTSHIFT_WEBHOOK_SECRETS to choose your own`
          : 'SECRET=<one of NIGHTSHIFT_WEBHOOK_SECRETS>',
      ),
    );
    console.log('Operate it (another terminal):');
    console.log(`  npm run sre -- status --fleet ${release.id}`);
    console.log(`  npm run sre -- pause --fleet ${release.id} --reason demo     # and: resume --fleet ${release.id}`);
    console.log(`  npm run sre -- cancel --fleet ${release.id} --reason demo`);
    console.log('  npm run sre -- status <control-plane>    # why (not), with the evidence');
    console.log('  npm run sre -- pause|resume|cancel <control-plane> --reason demo');
    console.log('Stop: Ctrl-C\n');

    const inventory = loadInventoryFile(config.NIGHTSHIFT_INVENTORY);
    const ids = inventory.controlPlanes.map((cp) => cp.id);

    let reportedSettled = false;
    let previous = '';
    const poll = async () => {
      const fleet = await client.workflow
        .getHandle(workflowId)
        .query(fleetStatusQuery)
        .then(
          (f) => ({ f, error: undefined }),
          (err: Error) => ({ f: undefined, error: err.message }),
        );
      const statuses = await Promise.all(
        ids.map(async (id) => {
          try {
            const cp = await client.workflow.getHandle(controlPlaneWorkflowId(id)).query(controlPlaneStatusQuery);
            return { id, s: rowOf(cp, release.id), note: undefined };
          } catch (err) {
            const message = (err as Error).message;
            return { id, s: undefined, note: /not found/i.test(message) ? 'not offered yet' : message };
          }
        }),
      );
      return { fleet, statuses };
    };
    while (!stopping) {
      // Ctrl-C does not wait for queries in flight (the terminal stops the dev server at the same moment).
      const snapshot = await Promise.race([poll(), stopped]);
      if (!snapshot) break;
      const { fleet, statuses } = snapshot;
      const done = statuses.filter((r) => r.s?.outcome).length;
      const waiting = statuses.filter((r) => r.s?.stage === 'waiting-for-window' && !r.s.outcome).length;
      const bar = '#'.repeat(Math.round((done / ids.length) * 30)).padEnd(30, '.');
      const table = [
        `[${bar}] ${done}/${ids.length} finished, ${waiting} waiting for their window`,
        fleetLine(fleet.f, fleet.error),
        ...statuses.flatMap((r) => rows(r.s, r.id, r.note)),
      ].join('\n');
      // Printed again only when something changed, so a log of the demo stays readable.
      if (table !== previous) console.log(`\n${new Date().toISOString()}  +${seconds(Date.now() - t0)}\n${table}`);
      previous = table;
      for (const line of logs.splice(0)) console.log(`  ${line}`);
      if (!reportedSettled && done + waiting === ids.length) {
        reportedSettled = true;
        const last = Math.max(...statuses.filter((r) => r.s?.outcome).map((r) => finishedAt(r.s!)));
        console.log(
          `\nSettled: every control plane is finished (${done}) or waiting for its window (${waiting}), seen after ` +
            `${seconds(Date.now() - t0)}.`,
        );
        if (fresh && Number.isFinite(last) && last > 0)
          console.log(
            `Run time to the last outcome: ${seconds(last - t0)} from npm start (${seconds(last - firedAt)} from the ` +
              `release event to the webhook; last outcome at ${new Date(last).toISOString()}).`,
          );
        else if (!fresh) console.log('(The outcomes are from an earlier run, so there is no run time to report.)');
        if (exitWhenSettled) break;
        console.log('The waiting ones start when their windows open (keep this running, or start it again later).');
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, POLL_MS);
      });
      wake = undefined;
    }
  } catch (err) {
    if (!(err instanceof Stopped)) throw err;
  } finally {
    console.log('\nStopping webhook, worker and server...');
    for (const { what, run } of cleanups.reverse()) {
      await run().catch((err: unknown) =>
        console.error(`  ${what}: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  console.log(`Stopped after ${seconds(Date.now() - t0)}.`);
}

main().catch((err: unknown) => {
  console.error(`npm start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
