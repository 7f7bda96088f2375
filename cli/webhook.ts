// `nightshift webhook`: receives signed release events (POST /release-events) and starts each release's fleet rollout.
// Configured by environment variables (NIGHTSHIFT_WEBHOOK_*, TEMPORAL_*); stops cleanly on SIGINT/SIGTERM.
import { createWebhookServer } from '../integrations/webhookServer';
import { loadConfig } from '../config/config';
import { startFleetUpgrade } from '../client/startFleet';
import { connectClient } from '../client/temporalClient';

const MIN_SECRET_LENGTH = 16;
const START_DEADLINE_MS = 10_000;

function log(line: string): void {
  console.log(`${new Date().toISOString()} ${line}`);
}

/** Serves until SIGINT/SIGTERM; configuration errors start with `configuration:` (exit 2). */
export async function runWebhook(): Promise<void> {
  const config = loadConfig();
  const secrets = config.NIGHTSHIFT_WEBHOOK_SECRETS;
  if (secrets.length === 0)
    throw new Error('configuration: NIGHTSHIFT_WEBHOOK_SECRETS is required (comma-separated signing secrets)');
  const weak = secrets.findIndex((s) => s.length < MIN_SECRET_LENGTH);
  if (weak >= 0)
    throw new Error(
      `configuration: NIGHTSHIFT_WEBHOOK_SECRETS: secret #${weak + 1} is shorter than ${MIN_SECRET_LENGTH} characters`,
    );

  // Lazy: the webhook starts while Temporal is down and answers 503 (senders retry) until it is back.
  const { client, close, ensureConnected } = await connectClient(config, { lazy: true });
  await ensureConnected().catch((err: Error) =>
    log(`nightshift webhook: warning: ${err.message}; answering 503 until it is reachable`),
  );
  const server = createWebhookServer({
    secrets,
    log,
    // A bounded wait: when Temporal is down the sender gets a 503 (and retries) before its own timeout.
    start: (release, rollout) =>
      client.withDeadline(Date.now() + START_DEADLINE_MS, () =>
        startFleetUpgrade(client, { taskQueue: config.fleetTaskQueue, release, rollout, requestedBy: 'webhook' }),
      ),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.NIGHTSHIFT_WEBHOOK_PORT, config.NIGHTSHIFT_WEBHOOK_HOST, () => resolve());
  });
  const address = server.address();
  const where = typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address);
  log(
    `nightshift webhook: listening on http://${where}/release-events (Temporal ${config.TEMPORAL_ADDRESS}, namespace ${config.TEMPORAL_NAMESPACE}, task queue ${config.TEMPORAL_TASK_QUEUE}, ${secrets.length} secret(s))`,
  );

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
      stopping = true;
      log(`nightshift webhook: ${signal}, finishing requests in flight (send it again to force)`);
      server.close(() => resolve());
      server.closeIdleConnections();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await close();
  log('nightshift webhook: stopped');
}
