// Wires configuration to adapters and adapters to activities, and builds the Temporal worker. Shared by
// `npm run worker`, `npm start` and the integration tests, so they all run the same code.
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { FileInventory, loadInventoryFile } from '../integrations/fileInventory';
import { HttpHealthProbe } from '../integrations/httpHealth';
import { LogAlerter } from '../integrations/logAlerter';
import { OutboxNotifier } from '../integrations/outboxNotifier';
import { SimulatedFleet, SimulatedPlatform, simulatedHealthUrl } from '../integrations/simulatedFleet';
import { TemporalRolloutDirectory } from '../integrations/temporalRolloutDirectory';
import type { Config } from './config';
import { clientConnectionOptions, connectClient } from './temporalClient';

export interface Wiring {
  deps: ActivityDeps;
  /** The in-process simulated fleet, when the worker runs one. */
  fleet?: SimulatedFleet;
  close(): Promise<void>;
}

export async function wireAdapters(config: Config, log: (line: string) => void = console.log): Promise<Wiring> {
  const inventory = new FileInventory(config.NIGHTSHIFT_INVENTORY);
  const temporal = await connectClient(config, { lazy: true });
  let fleet: SimulatedFleet | undefined;
  let baseUrl = config.NIGHTSHIFT_SIM_URL;
  if (!baseUrl) {
    fleet = await SimulatedFleet.start({
      inventory: loadInventoryFile(config.NIGHTSHIFT_INVENTORY),
      stateFile: config.NIGHTSHIFT_SIM_STATE,
      port: config.NIGHTSHIFT_SIM_PORT,
      rolloutMs: config.NIGHTSHIFT_SIM_ROLLOUT_MS,
    });
    baseUrl = fleet.baseUrl;
    log(`simulated fleet listening on ${baseUrl} (state ${config.NIGHTSHIFT_SIM_STATE})`);
  }
  const platform = new SimulatedPlatform(baseUrl);
  const fleetUrl = baseUrl;
  const health = new HttpHealthProbe((c) => simulatedHealthUrl(fleetUrl, c));
  const deps: ActivityDeps = {
    inventory,
    platform,
    health,
    notifier: new OutboxNotifier(config.NIGHTSHIFT_OUTBOX, { echo: (line) => log(line) }),
    alerter: new LogAlerter({ path: config.NIGHTSHIFT_ALERT_LOG, log: (line) => log(line) }),
    policy: config.policy,
    // A newer release supersedes an older rollout of the same line; visibility finds the running ones.
    rollouts: new TemporalRolloutDirectory(temporal.client),
  };
  return {
    deps,
    fleet,
    close: async () => {
      await temporal.close();
      await fleet?.close();
    },
  };
}

/** The worker's connection: the same address, TLS / mTLS and API key choice as the operator client. */
export async function connectWorker(config: Config): Promise<NativeConnection> {
  const { address, tls } = clientConnectionOptions(config);
  return NativeConnection.connect({ address, tls, apiKey: config.TEMPORAL_API_KEY });
}

export function workflowsPath(): string {
  return require.resolve('../workflows');
}

export async function createWorker(opts: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  extra?: Partial<WorkerOptions>;
}): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowsPath: workflowsPath(),
    activities: createActivities(opts.deps),
    ...opts.extra,
  });
}
