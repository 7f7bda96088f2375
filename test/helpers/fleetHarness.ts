// A real worker over real adapters (file inventory, simulated fleet over HTTP, outbox, alert log) in a temp dir,
// for tests against a real Temporal server.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities, type ActivityDeps, type MessengerPort, type RolloutDirectoryPort } from '../../activities';
import type { ComponentKind, ComponentRef } from '../../domain/model';
import { DEFAULT_POLICY, type UpgradePolicy } from '../../domain/policy';
import type { Release } from '../../domain/release';
import { FileInventory } from '../../integrations/fileInventory';
import { LogAlerter } from '../../integrations/logAlerter';
import { OutboxNotifier, readOutbox } from '../../integrations/outboxNotifier';
import { SimulatedFleet, SimulatedPlatform, simulatedHealthProbe } from '../../integrations/simulatedFleet';
import { InventorySchema, type Inventory } from '../../domain/inventory';
import { workflowsPath } from '../../workers/worker';

/** Tyk's check_duration of the simulated Gateways in these tests; the policy says the same. */
export const TEST_CHECK_DURATION_MS = 40;

export const TEST_POLICY: UpgradePolicy = {
  ...DEFAULT_POLICY,
  verify: {
    consecutivePasses: 2,
    intervalMs: 40,
    soakMs: 40,
    timeoutMs: 1500,
    checkDurationMs: TEST_CHECK_DURATION_MS,
  },
};

export const LTS_RELEASE: Release = {
  id: 'lts-5.8.2',
  kind: 'lts',
  targets: { dashboard: '5.8.2', gateway: '5.8.2' },
  notesUrl: 'https://tyk.io/docs/release-notes/5.8.2',
};

export type InventoryInput = { orgs: unknown[]; controlPlanes: Record<string, unknown>[] };

export class FleetHarness {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-'));
  readonly inventoryPath = path.join(this.dir, 'fleet.json');
  readonly outboxPath = path.join(this.dir, 'outbox.jsonl');
  readonly alertsPath = path.join(this.dir, 'alerts.jsonl');
  fleet!: SimulatedFleet;
  platform!: SimulatedPlatform;
  deps!: ActivityDeps;
  private logs: string[] = [];

  constructor(private inventory: InventoryInput) {}

  async start(
    opts: {
      rolloutMs?: number;
      policy?: UpgradePolicy;
      rollouts?: RolloutDirectoryPort;
      messenger?: MessengerPort;
      /** The simulated fleet's own audit log of every deploy request and finished rollout (JSON lines). */
      auditLog?: string;
    } = {},
  ): Promise<void> {
    this.writeInventory(this.inventory);
    const inv: Inventory = InventorySchema.parse(this.inventory);
    this.fleet = await SimulatedFleet.start({
      inventory: inv,
      stateFile: path.join(this.dir, 'fleet-state.json'),
      rolloutMs: opts.rolloutMs ?? 100,
      checkDurationMs: TEST_CHECK_DURATION_MS,
      ...(opts.auditLog ? { auditLog: opts.auditLog } : {}),
    });
    this.platform = new SimulatedPlatform(this.fleet.baseUrl, { pollMs: 20 });
    this.deps = {
      inventory: new FileInventory(this.inventoryPath),
      platform: this.platform,
      // As production probes: each Gateway by its checks, the Dashboard for liveness, its version from the platform.
      health: simulatedHealthProbe(this.fleet.baseUrl, { timeoutMs: 2000, platform: this.platform }),
      notifier: new OutboxNotifier(this.outboxPath, { echo: (l) => this.logs.push(l) }),
      alerter: new LogAlerter({ path: this.alertsPath, log: (l) => this.logs.push(l) }),
      policy: opts.policy ?? TEST_POLICY,
      rollouts: opts.rollouts,
      messenger: opts.messenger,
    };
  }

  writeInventory(inv: InventoryInput): void {
    this.inventory = inv;
    fs.writeFileSync(this.inventoryPath, JSON.stringify(inv, null, 2));
  }

  /** Empties the outbox and the alert log (a test that runs again on a fresh server starts from none). */
  clearMessages(): void {
    for (const file of [this.outboxPath, this.alertsPath]) if (fs.existsSync(file)) fs.truncateSync(file, 0);
  }

  updateControlPlane(id: string, patch: Record<string, unknown>): void {
    this.replaceControlPlanes(this.inventory.controlPlanes.map((cp) => (cp.id === id ? { ...cp, ...patch } : cp)));
  }

  removeControlPlane(id: string): void {
    this.replaceControlPlanes(this.inventory.controlPlanes.filter((cp) => cp.id !== id));
  }

  private replaceControlPlanes(cps: InventoryInput['controlPlanes']): void {
    this.writeInventory({ ...this.inventory, controlPlanes: cps });
    // Bump mtime noticeably: some file systems have coarse timestamps.
    const t = new Date(Date.now() + 2000);
    fs.utimesSync(this.inventoryPath, t, t);
  }

  async createWorker(env: TestWorkflowEnvironment, taskQueue: string): Promise<Worker> {
    return Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue,
      workflowsPath: workflowsPath(),
      activities: createActivities(this.deps),
    });
  }

  async notices(
    controlPlaneId?: string,
  ): Promise<{ key: string; noticeKind: string; subject: string; text: string; properties: Record<string, string> }[]> {
    if (!fs.existsSync(this.outboxPath)) return [];
    const all = (await readOutbox(this.outboxPath)) as unknown as {
      key: string;
      noticeKind: string;
      subject: string;
      text: string;
      properties: Record<string, string>;
    }[];
    return controlPlaneId ? all.filter((n) => n.properties.control_plane_id === controlPlaneId) : all;
  }

  alerts(
    controlPlaneId?: string,
  ): { severity: string; summary: string; controlPlaneId: string; dedupKey: string; action: string }[] {
    if (!fs.existsSync(this.alertsPath)) return [];
    const all = fs
      .readFileSync(this.alertsPath, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    return controlPlaneId ? all.filter((a: { controlPlaneId: string }) => a.controlPlaneId === controlPlaneId) : all;
  }

  async version(controlPlaneId: string, id: string): Promise<string> {
    const kind: ComponentKind = id === 'dashboard' || id === 'gateway' ? id : 'data-plane';
    const ref: ComponentRef = { controlPlaneId, kind, id };
    return this.platform.currentVersion(ref);
  }

  async close(): Promise<void> {
    await this.fleet?.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

type Weekday = 'sun' | 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat';

/** The weekday of an instant in a time zone, as the inventory spells it. */
export function weekdayIn(ms: number, timeZone: string): Weekday {
  const name = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short' }).format(new Date(ms)).toLowerCase();
  return name.slice(0, 3) as Weekday;
}

export function org(id = 'org-acme') {
  return { id, name: 'Acme Corp', admin: { email: 'ops@acme.example', name: 'Ada Admin' } };
}

/** A control plane on 5.3.4 with one data plane and an every-day, all-day window unless overridden. */
export function controlPlane(id: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    orgId: 'org-acme',
    name: `Acme ${id}`,
    tier: 'development',
    autoUpgrade: true,
    dashboard: { version: '5.3.4' },
    gateway: { version: '5.3.4' },
    dataPlanes: [{ id: 'dp-eu', version: '5.3.4' }],
    window: {
      timeZone: 'Europe/Berlin',
      start: '00:00',
      durationMinutes: 1440,
      weekly: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] },
    },
    ...overrides,
  };
}
