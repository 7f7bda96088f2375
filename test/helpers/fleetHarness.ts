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
import type { SimulatedAuditEntry, SimulatedComponentState } from '../../integrations/simulatedFleet/wire';
import { FileInventory } from '../../integrations/fileInventory';
import { LogAlerter } from '../../integrations/logAlerter';
import { OutboxNotifier, readOutbox } from '../../integrations/outboxNotifier';
import { SimulatedPlatform, simulatedHealthProbe } from '../../integrations/simulatedFleet/adapter';
import { SimulatedFleet } from '../../integrations/simulatedFleet/server';
import { InventorySchema, type Inventory } from '../../domain/inventory';
import { workflowsPath } from '../../worker/worker';
import { checkInvariants, DeliveryRecorder, type DeliveredNotice, type WindowOverride } from './invariants';

/** Tyk's check_duration of the simulated Gateways in these tests; the policy says the same. */
export const TEST_CHECK_DURATION_MS = 40;

export const TEST_POLICY: UpgradePolicy = {
  ...DEFAULT_POLICY,
  verify: {
    consecutivePasses: 2,
    intervalMs: 40,
    soakMs: 40,
    // Real time, as in production. 1,500 ms was too little on a loaded CI machine: with both Jest projects running on
    // two cores, the worker's event loop stalled for seconds (a 6.6 s workflow task was logged), a healthy Dashboard
    // missed its two passes in time and was rolled back. Only the few tests whose component never answers wait it out.
    timeoutMs: 6000,
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
  /** The simulated fleet's own account of every deploy request and finished rollout (see invariants.ts). */
  readonly auditPath = path.join(this.dir, 'audit.jsonl');
  /** Every notice delivered, with its delivery time in server time. */
  readonly deliveries: DeliveredNotice[] = [];
  fleet!: SimulatedFleet;
  platform!: SimulatedPlatform;
  deps!: ActivityDeps;
  private logs: string[] = [];
  /** Every inventory written, with the real time it was written: the checker reads the one in force at a change. */
  private inventoryLog: { at: number; inventory: InventoryInput }[] = [];
  private invariantMark?: { auditBytes: number; deliveries: number; state: SimulatedComponentState[] };
  /** The audit log the fleet writes: auditPath unless start() was given another. */
  private auditFile = this.auditPath;

  constructor(private inventory: InventoryInput) {}

  async start(
    opts: {
      rolloutMs?: number;
      policy?: UpgradePolicy;
      rollouts?: RolloutDirectoryPort;
      messenger?: MessengerPort;
      /** The fleet's own audit log of every deploy request and finished rollout (JSON lines); default auditPath. */
      auditLog?: string;
    } = {},
  ): Promise<void> {
    this.writeInventory(this.inventory);
    this.auditFile = opts.auditLog ?? this.auditPath;
    const inv: Inventory = InventorySchema.parse(this.inventory);
    this.fleet = await SimulatedFleet.start({
      inventory: inv,
      stateFile: path.join(this.dir, 'fleet-state.json'),
      rolloutMs: opts.rolloutMs ?? 100,
      checkDurationMs: TEST_CHECK_DURATION_MS,
      // The invariant check reads it (markInvariants / invariantViolations).
      auditLog: this.auditFile,
    });
    this.platform = new SimulatedPlatform(this.fleet.baseUrl, { pollMs: 20 });
    this.deps = {
      inventory: new FileInventory(this.inventoryPath),
      platform: this.platform,
      // As production probes: each Gateway by its checks, the Dashboard for liveness, its version from the platform.
      health: simulatedHealthProbe(this.fleet.baseUrl, { timeoutMs: 2000, platform: this.platform }),
      notifier: new DeliveryRecorder(new OutboxNotifier(this.outboxPath, { echo: (l) => this.logs.push(l) }), (n) =>
        this.deliveries.push(n),
      ),
      alerter: new LogAlerter({ path: this.alertsPath, log: (l) => this.logs.push(l) }),
      policy: opts.policy ?? TEST_POLICY,
      rollouts: opts.rollouts,
      messenger: opts.messenger,
    };
  }

  writeInventory(inv: InventoryInput): void {
    this.inventory = inv;
    this.inventoryLog.push({ at: Date.now(), inventory: inv });
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

  // ---- invariants (test/helpers/invariants.ts) ----

  /** Starts a checked stretch: what the fleet runs now is the initial state; only later changes are judged. */
  markInvariants(): void {
    this.invariantMark = {
      auditBytes: fs.existsSync(this.auditFile) ? fs.statSync(this.auditFile).size : 0,
      deliveries: this.deliveries.length,
      state: this.fleet.state().components,
    };
  }

  /** The audit log's entries (since the mark, when `sinceMark`; all of them if it was truncated meanwhile). */
  auditEntries(sinceMark = false): SimulatedAuditEntry[] {
    if (!fs.existsSync(this.auditFile)) return [];
    const all = fs.readFileSync(this.auditFile);
    const mark = sinceMark ? (this.invariantMark?.auditBytes ?? 0) : 0;
    const from = mark <= all.length ? mark : 0;
    return all
      .subarray(from)
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as SimulatedAuditEntry);
  }

  /** Control planes some workflow asked to change since the mark. */
  changedSinceMark(): string[] {
    return [
      ...new Set(
        this.auditEntries(true)
          .filter((e) => e.event === 'deploy' && e.requestedBy)
          .map((e) => e.controlPlaneId),
      ),
    ];
  }

  /**
   * The control plane as the inventory stood at a real instant: the latest write at or before it that lists it, else
   * the earliest later one (a control plane removed mid-test is judged by its last entry).
   */
  controlPlaneAt(controlPlaneId: string, at: Date): Record<string, unknown> | undefined {
    const find = (e: { inventory: InventoryInput }) => e.inventory.controlPlanes.find((cp) => cp.id === controlPlaneId);
    const before = this.inventoryLog.filter((e) => e.at <= at.getTime() && find(e)).at(-1);
    const after = this.inventoryLog.find((e) => e.at > at.getTime() && find(e));
    const entry = before ?? after;
    return entry && find(entry);
  }

  /** Every broken promise since the mark (see invariants.ts); empty when all hold. */
  invariantViolations(opts: { releases: Release[]; overrides?: WindowOverride[] }): string[] {
    const mark = this.invariantMark;
    if (!mark) throw new Error('markInvariants() was not called');
    return checkInvariants({
      audit: this.auditEntries(true),
      inventory: (id, at) => this.controlPlaneAt(id, at),
      notices: this.deliveries.slice(mark.deliveries),
      releases: opts.releases,
      ...(opts.overrides ? { overrides: opts.overrides } : {}),
      initialState: mark.state,
      finalState: this.fleet.state().components,
      policy: this.deps.policy,
    });
  }

  /** Throws, listing them, when a promise was broken since the mark. */
  assertInvariants(opts: { releases: Release[]; overrides?: WindowOverride[] }): void {
    const violations = this.invariantViolations(opts);
    if (violations.length > 0)
      throw new Error(`${violations.length} invariant violation(s):\n- ${violations.join('\n- ')}`);
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

/** HH:MM of an instant in a time zone, as the inventory writes a window's start. */
export function clockIn(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(
    new Date(ms),
  );
}

/**
 * The default maintenance window: five hours every day in the control plane's zone, opening (at the minute) an hour
 * before the fixture is built, so outside it lie 19 hours of every day. On the time-skipping server a change lands in
 * it only if the workflow waited for it (a day's notice ends inside the next day's occurrence, which closes 4 hours
 * later); on the dev server, with the notice lead set to 0, it is open for the next 4 hours.
 */
export function dailyWindow(timeZone = 'Europe/Berlin', opensAtMs = Date.now() - 60 * 60_000, durationMinutes = 300) {
  return {
    timeZone,
    start: clockIn(opensAtMs, timeZone),
    durationMinutes,
    weekly: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] },
  };
}

/** A control plane on 5.3.4 with one data plane and a five-hour daily window (dailyWindow) unless overridden. */
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
    window: dailyWindow(),
    ...overrides,
  };
}
