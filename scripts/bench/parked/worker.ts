// A bare worker process for the fan-out baseline (scripts/bench/fanout.ts): parked/workflows.ts and its one no-op
// activity, with the SDK's default worker settings, as `nightshift worker` has them for its main task queue. The
// workflow code is BENCH_WORKFLOW_BUNDLE when set (prebuilt, as the built `nightshift worker` loads its bundle), else
// bundled at start-up.
//
// Environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE (default `default`), TEMPORAL_TASK_QUEUE, BENCH_REPORT_URL (the
// k-th no-op activity of each workflow POSTs its workflow id there). Prints one JSON line `{"ready":…}` once polling.
import { Context } from '@temporalio/activity';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { ParkedActivities } from './workflows';

function env(name: string): string {
  const v = process.env[name];
  if (!v) {
    console.error(`parked worker: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

async function main(): Promise<void> {
  const address = env('TEMPORAL_ADDRESS');
  const taskQueue = env('TEMPORAL_TASK_QUEUE');
  const reportUrl = env('BENCH_REPORT_URL');
  const activities: ParkedActivities = {
    async noop(i, k) {
      if (i !== k) return;
      const res = await fetch(reportUrl, {
        method: 'POST',
        body: Context.current().info.workflowExecution?.workflowId ?? '?',
      });
      if (!res.ok) throw new Error(`report: HTTP ${res.status}`);
    },
  };
  // A prebuilt bundle when the bench made one (as `nightshift worker` built loads dist/workflow-bundle.js).
  const prebuilt = process.env.BENCH_WORKFLOW_BUNDLE;
  const workflowBundle = prebuilt
    ? { codePath: prebuilt }
    : await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), logger: Runtime.instance().logger });
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue,
    workflowBundle,
    activities,
  });
  // The SDK's runtime shuts the worker down on SIGINT and SIGTERM, as in `nightshift worker`.
  const running = worker.run();
  while (worker.getState() === 'INITIALIZED') await new Promise((r) => setTimeout(r, 20));
  console.log(JSON.stringify({ ready: { maxCachedWorkflows: worker.options.maxCachedWorkflows } }));
  try {
    await running;
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error('parked worker failed:', err);
  process.exit(1);
});
