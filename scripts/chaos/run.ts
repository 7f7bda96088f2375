// The chaos run: a dev server persisted to SQLite, worker processes that are SIGKILLed and restarted, a server
// restart, operators sending cancels, pauses and defers at random, HubSpot and PagerDuty down for minutes at a time,
// two overlapping releases over a simulated fleet with injected faults. Afterwards the verdict (verdict.ts) judges
// every control plane from the fleet's own audit log.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { InventorySchema, type Inventory } from '../../domain/inventory';
import type { Release } from '../../domain/release';
import { simulatedHealthProbe } from '../../integrations/simulatedFleet/adapter';
import { SimulatedFleet } from '../../integrations/simulatedFleet/server';
import type { SimulatedAuditEntry } from '../../integrations/simulatedFleet/wire';
import { startFakePagerDuty } from '../../test/helpers/fakeAlertReceivers';
import { startFakeHubSpot } from '../../test/helpers/fakeHubspot';
import { freePort } from '../../test/helpers/ports';
import { NOTICE_KINDS } from '../../domain/model';
import { startDevServer } from '../devServer';
import { startFleetUpgrade } from '../../client/startFleet';
import { fleetTaskQueueOf } from '../../config/config';
import {
  cancelSignal,
  controlPlaneStatusQuery,
  controlPlaneWorkflowId,
  deferUpdate,
  fleetStatusQuery,
  fleetWorkflowId,
  pauseSignal,
  resumeSignal,
  retryRollbackSignal,
  type ControlPlaneStatus,
  type FleetStatus,
} from '../../workflows/messages';
import { startOutageProxy, type OutageMode, type OutageProxy } from './outageProxy';
import { judge, type Verdict } from './verdict';

const ROOT = path.resolve(__dirname, '../..');
const TASK_QUEUE = 'chaos';
const ROUTING_KEY = 'chaos0routing0key000000000000000'; // 32 characters, as PagerDuty requires
/** Notice leads the workers are given (development tier; staging keeps its default of 2 days). */
const LEAD = { lts: '20s', security: '10s' };
const LEAD_MINUTES = { lts: 20 / 60, security: 10 / 60 };

export interface ChaosOptions {
  controlPlanes: number;
  kills: number;
  serverRestarts: number;
  workers: number;
  seed: number;
  /** Give up (and judge what there is) after this long. */
  maxMinutes: number;
  /** How long the faults go on (kills spread over it, outages, operator actions); at least until the kills are done. */
  chaosMinutes: number;
  log: (line: string) => void;
}

export interface ChaosResult {
  verdict: Verdict;
  kills: number;
  serverRestarts: number;
  actions: Record<string, number>;
  outages: Record<string, Record<OutageMode, number>>;
  durationMs: number;
  dir: string;
}

/** Small deterministic PRNG (mulberry32): a seed reproduces the schedule of faults and actions. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function hhmm(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(
    new Date(ms),
  );
}

/** The fleet: most control planes healthy with a window open now; some faulty, some whose window is later. */
export function chaosInventory(n: number, now: number, random: () => number): Inventory {
  const zones = ['Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Sydney', 'UTC'];
  const everyDay = { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] };
  const cps = Array.from({ length: n }, (_, i) => {
    const id = `chaos-${String(i + 1).padStart(3, '0')}`;
    const zone = zones[i % zones.length]!;
    const openNow = { timeZone: zone, start: hhmm(now - 10 * 60_000, zone), durationMinutes: 180, weekly: everyDay };
    const cp: Record<string, unknown> = {
      id,
      orgId: `org-${i % 7}`,
      tier: 'development',
      autoUpgrade: true,
      dashboard: { version: '5.3.4' },
      gateway: { version: '5.3.4' },
      dataPlanes: [{ id: 'dp-1', version: '5.3.4' }],
      window: openNow,
      labels: i < 5 ? ['canary'] : [],
      config: { hash_keys: true },
    };
    const r = random();
    const pick = i < 5 ? 1 : r; // canaries are healthy
    if (pick < 0.06) cp.simulate = { faults: { gateway: 'fail-after-upgrade' } };
    else if (pick < 0.1) cp.simulate = { faults: { gateway: 'warn-after-upgrade' } };
    else if (pick < 0.15) cp.simulate = { faults: { 'dp-1': 'upgrade-error' } };
    else if (pick < 0.19) cp.simulate = { faults: { 'dp-1': 'unreachable' } };
    else if (pick < 0.27) cp.simulate = { faults: { gateway: 'slow-rollout' } };
    else if (pick < 0.34) {
      // On 5.8.1: both releases apply; the security release replaces the LTS one if it comes while this one waits.
      cp.dashboard = { version: '5.8.1' };
      cp.gateway = { version: '5.8.1' };
      cp.dataPlanes = [{ id: 'dp-1', version: '5.8.1' }];
    } else if (pick < 0.4) {
      // Its window opens in six hours: it must stay untouched during the run.
      cp.window = { ...openNow, start: hhmm(now + 6 * 3600_000, zone), durationMinutes: 120 };
    } else if (pick < 0.43) {
      // Open now but closing in 40 minutes: too short for the 70 the upgrade needs, so tomorrow.
      cp.window = { ...openNow, start: hhmm(now - 140 * 60_000, zone) };
    } else if (pick < 0.46)
      cp.tier = 'staging'; // two days' notice
    else if (pick < 0.48) cp.hybrid = true;
    return cp;
  });
  const orgs = Array.from({ length: 7 }, (_, i) => ({
    id: `org-${i}`,
    name: `Chaos Org ${i}`,
    admin: { email: `admin${i}@chaos.example`, name: `Admin ${i}` },
  }));
  return InventorySchema.parse({ orgs, controlPlanes: cps });
}

const RELEASES: Release[] = [
  {
    id: 'lts-5.8.2',
    kind: 'lts',
    targets: { dashboard: '5.8.2', gateway: '5.8.2' },
    notesUrl: 'https://tyk.io/docs/release-notes/5.8.2',
  } as Release,
  {
    id: 'sec-5.8.3',
    kind: 'security',
    targets: { dashboard: '5.8.3', gateway: '5.8.3' },
    affected: '>=5.8.0 <5.8.3',
    notesUrl: 'https://tyk.io/docs/release-notes/5.8.3',
  } as Release,
];

class WorkerPool {
  private readonly procs: (ChildProcess | undefined)[];
  kills = 0;
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly logDir: string,
    count: number,
  ) {
    this.procs = Array.from({ length: count }, () => undefined);
  }
  startAll(): void {
    this.procs.forEach((_, i) => this.start(i));
  }
  private stopping = false;
  restartsAfterExit = 0;
  private start(i: number): void {
    const out = fs.openSync(path.join(this.logDir, `worker-${i}.log`), 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'worker/main.ts')], {
      cwd: ROOT,
      env: this.env,
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    this.procs[i] = child;
    // Like a Deployment's pod: a worker that exits by itself (e.g. it could not reach a restarting server) is
    // started again after a short back-off.
    child.once('exit', (code, signal) => {
      if (this.stopping || signal === 'SIGKILL' || this.procs[i] !== child) return;
      this.restartsAfterExit++;
      setTimeout(() => {
        if (!this.stopping && this.procs[i] === child) this.start(i);
      }, 2_000);
      void code;
    });
  }
  /** SIGKILL one worker and start a new one in its place. */
  killOne(random: () => number): number {
    const i = Math.floor(random() * this.procs.length);
    this.procs[i]?.kill('SIGKILL');
    this.kills++;
    this.start(i);
    return i;
  }
  async stopAll(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGTERM');
            setTimeout(() => p.kill('SIGKILL'), 15_000).unref();
          }),
      ),
    );
  }
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const random = rng(opts.seed);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-chaos-'));
  const log = opts.log;
  const inventory = chaosInventory(opts.controlPlanes, started, random);
  const inventoryPath = path.join(dir, 'fleet.json');
  fs.writeFileSync(inventoryPath, JSON.stringify(inventory, null, 2));
  const auditLog = path.join(dir, 'audit.jsonl');
  const alertLog = path.join(dir, 'alerts.jsonl');

  const address = `127.0.0.1:${await freePort()}`;
  const dbFile = path.join(dir, 'temporal.db');
  let server = await startDevServer(address, { dbFile });
  const hubspot = await startFakeHubSpot();
  const pagerDuty = await startFakePagerDuty({ routingKeys: [ROUTING_KEY] });
  const mailProxy = await startOutageProxy(hubspot.baseUrl, 'HubSpot');
  const pageProxy = await startOutageProxy(pagerDuty.url, 'PagerDuty');
  const fleet = await SimulatedFleet.start({
    inventory,
    stateFile: path.join(dir, 'fleet-state.json'),
    rolloutMs: 1000,
    checkDurationMs: 300,
    auditLog,
  });
  const templates = NOTICE_KINDS.map((k, i) => `${k}=${1000 + i}`).join(',');
  const workerEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
    NIGHTSHIFT_INVENTORY: inventoryPath,
    NIGHTSHIFT_PLATFORM: 'simulated',
    NIGHTSHIFT_SIM_URL: fleet.baseUrl,
    NIGHTSHIFT_NOTIFIER: 'hubspot',
    NIGHTSHIFT_HUBSPOT_BASE_URL: mailProxy.url,
    NIGHTSHIFT_HUBSPOT_TOKEN: hubspot.token,
    NIGHTSHIFT_HUBSPOT_TEMPLATES: templates,
    NIGHTSHIFT_HUBSPOT_TIMEOUT_MS: '3000',
    NIGHTSHIFT_ALERTER: 'pagerduty,log',
    NIGHTSHIFT_ALERT_LOG: alertLog,
    NIGHTSHIFT_PAGERDUTY_URL: pageProxy.url,
    NIGHTSHIFT_PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
    NIGHTSHIFT_ALERT_TIMEOUT_MS: '3000',
    NIGHTSHIFT_NOTICE_LEAD_DEVELOPMENT: LEAD.lts,
    NIGHTSHIFT_SECURITY_LEAD_DEVELOPMENT: LEAD.security,
    NIGHTSHIFT_VERIFY_PASSES: '2',
    NIGHTSHIFT_VERIFY_INTERVAL_MS: '300',
    NIGHTSHIFT_VERIFY_SOAK_MS: '600',
    NIGHTSHIFT_VERIFY_TIMEOUT_MS: '6000',
    NIGHTSHIFT_TYK_CHECK_DURATION_MS: '300',
  };
  const workers = new WorkerPool(workerEnv, dir, opts.workers);
  workers.startAll();
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });

  const actions: Record<string, number> = {};
  const count = (k: string) => (actions[k] = (actions[k] ?? 0) + 1);
  const cpIds = inventory.controlPlanes.map((cp) => cp.id);
  const pausedByUs = new Map<string, number>();
  let restarts = 0;
  const released = new Set<string>();
  const rollout = {
    canary: { labels: ['canary'] },
    bakeMinutes: 0,
    maxConcurrent: 6,
    failureBudget: { maxFailures: 10_000, maxRatio: 1 },
    reconcileMinutes: 5,
  };
  const fire = async (r: Release) => {
    await startFleetUpgrade(client, {
      taskQueue: fleetTaskQueueOf(TASK_QUEUE),
      release: r,
      rollout,
      requestedBy: 'chaos',
    });
    released.add(r.id);
    log(`release ${r.id} fired`);
  };

  const outageState = { mail: { until: started + 30_000, on: false }, page: { until: started + 50_000, on: false } };
  const proxies: Record<'mail' | 'page', OutageProxy> = { mail: mailProxy, page: pageProxy };
  const modes: OutageMode[] = ['503', '429', 'hang'];
  const flipOutages = (now: number, allowed: boolean) => {
    for (const k of ['mail', 'page'] as const) {
      const s = outageState[k];
      if (!allowed) {
        if (s.on) proxies[k].setOutage(null);
        s.on = false;
        continue;
      }
      if (now < s.until) continue;
      s.on = !s.on;
      const mode = modes[Math.floor(random() * modes.length)]!;
      proxies[k].setOutage(s.on ? mode : null);
      s.until = now + (s.on ? 60_000 + random() * 60_000 : 40_000 + random() * 40_000);
      log(`${k === 'mail' ? 'HubSpot' : 'PagerDuty'} ${s.on ? `outage (${mode})` : 'back'}`);
    }
  };

  const operatorAction = async () => {
    const r = random();
    // Bounded: an update waits for a worker to run it, and workers are being killed.
    const deadline = Date.now() + 10_000;
    try {
      await client.withDeadline(deadline, () => act(r));
    } catch {
      count('refused, not found or timed out');
    }
  };

  /** One operator message to a random control plane (often one that has finished, or was never offered). */
  const act = async (r: number) => {
    const id = cpIds[Math.floor(random() * cpIds.length)]!;
    const h = client.workflow.getHandle(controlPlaneWorkflowId(id));
    const who = { reason: 'chaos operator', by: 'chaos' };
    if (r < 0.35) {
      await h.signal(pauseSignal, who);
      pausedByUs.set(id, Date.now() + 5_000 + random() * 15_000);
      count('pause');
    } else if (r < 0.5) {
      await h.signal(cancelSignal, who);
      count('cancel signal');
    } else if (r < 0.62) {
      await h.cancel();
      count('Temporal cancel');
    } else if (r < 0.77) {
      count('defer');
      await h.executeUpdate(deferUpdate, { args: [{ days: 1, ...who }] });
    } else {
      await h.signal(resumeSignal, who);
      count('resume');
    }
  };

  const readStatuses = async () => {
    const cps = new Map<string, ControlPlaneStatus | string>();
    for (const id of cpIds) {
      cps.set(
        id,
        await client
          .withDeadline(Date.now() + 10_000, () =>
            client.workflow.getHandle(controlPlaneWorkflowId(id)).query(controlPlaneStatusQuery),
          )
          .catch((e: Error) => e.message),
      );
    }
    const fleets = new Map<string, FleetStatus | string>();
    for (const r of released)
      fleets.set(
        r,
        await client
          .withDeadline(Date.now() + 10_000, () =>
            client.workflow.getHandle(fleetWorkflowId(r)).query(fleetStatusQuery),
          )
          .catch((e: Error) => e.message),
      );
    return { cps, fleets };
  };

  /** Nothing changing, asking or paused anywhere: every control plane idle or waiting for a later window. */
  const settled = async (): Promise<boolean> => {
    const { cps, fleets } = await readStatuses();
    let settledNow = true;
    for (const [id, s] of cps) {
      if (typeof s === 'string') {
        if (/not found/i.test(s)) continue; // never offered anything (ineligible, listed untracked)
        return false;
      }
      const u = s.upgrade;
      if (!u || u.outcome) continue;
      if (u.paused || u.rollbackBlocked) {
        // The SRE on call answers: a paused upgrade is cancelled (rolled back if it changed something).
        const h = client.workflow.getHandle(controlPlaneWorkflowId(id));
        if (u.rollbackBlocked) await h.signal(retryRollbackSignal, { reason: 'chaos end', by: 'chaos-sre' });
        else await h.signal(cancelSignal, { reason: 'chaos end: paused upgrade cancelled', by: 'chaos-sre' });
        count('sre answer at the end');
        settledNow = false;
        continue;
      }
      // Waiting is settled only for a window that opens well after the run (tomorrow's, or in six hours).
      if (u.stage !== 'waiting-for-window') settledNow = false;
      else if (!u.window || Date.parse(u.window.startAt) < Date.now() + 30 * 60_000) settledNow = false;
    }
    if (!settledNow) return false;
    // A fleet is settled once it has listed both waves and nothing of it changes or asks for a slot.
    for (const f of fleets.values()) {
      if (typeof f === 'string') return false;
      if (!['completed', 'cancelled', 'superseded', 'main', 'draining'].includes(f.stage)) return false;
      if (f.inFlight.changing > 0 || f.inFlight.waitingForSlot > 0) return false;
    }
    return true;
  };

  try {
    await fire(RELEASES[0]!);
    let nextKill = Date.now() + ((opts.chaosMinutes * 60_000) / Math.max(1, opts.kills)) * (0.5 + random());
    let nextAction = Date.now() + 5_000;
    let secondFired = false;
    const deadline = started + opts.maxMinutes * 60_000;
    let calm = 0;
    for (;;) {
      const now = Date.now();
      if (now > deadline) {
        log(`gave up waiting after ${opts.maxMinutes} min`);
        break;
      }
      const chaosOn =
        workers.kills < opts.kills || restarts < opts.serverRestarts || now < started + opts.chaosMinutes * 60_000;
      if (!secondFired && now > started + 45_000) {
        await fire(RELEASES[1]!).catch((e: Error) => log(`release ${RELEASES[1]!.id}: ${e.message}`));
        secondFired = released.has(RELEASES[1]!.id);
      }
      if (workers.kills < opts.kills && now >= nextKill) {
        const i = workers.killOne(random);
        log(`SIGKILL worker ${i} (kill ${workers.kills}/${opts.kills})`);
        const spacing = (opts.chaosMinutes * 60_000) / Math.max(1, opts.kills);
        nextKill = now + spacing * (0.5 + random());
        if (
          restarts < opts.serverRestarts &&
          workers.kills >= Math.ceil(((restarts + 1) * opts.kills) / (opts.serverRestarts + 1))
        ) {
          log('restarting the Temporal dev server');
          const old = server;
          await new Promise<void>((resolve) => {
            old.once('exit', () => resolve());
            old.kill('SIGTERM');
          });
          await sleep(2_000);
          server = await startDevServer(address, { dbFile });
          restarts++;
          log('Temporal dev server back');
        }
      }
      if (chaosOn && now >= nextAction) {
        await operatorAction();
        nextAction = now + 2_000 + random() * 5_000;
      }
      for (const [id, at] of pausedByUs)
        if (now >= at) {
          pausedByUs.delete(id);
          await client.workflow
            .getHandle(controlPlaneWorkflowId(id))
            .signal(resumeSignal, { reason: 'chaos operator', by: 'chaos' })
            .catch(() => undefined);
          count('resume (of our pause)');
        }
      flipOutages(now, chaosOn);
      if (!chaosOn && secondFired && pausedByUs.size === 0) {
        calm = (await settled().catch(() => false)) ? calm + 1 : 0;
        if (calm >= 3) break;
      }
      await sleep(1_000);
    }
    const settledAt = Date.now();
    const { cps, fleets } = await readStatuses();
    fs.writeFileSync(
      path.join(dir, 'statuses.json'),
      JSON.stringify({ controlPlanes: Object.fromEntries(cps), fleets: Object.fromEntries(fleets) }, null, 1),
    );
    const finalState = fleet.state().components;
    const probe = simulatedHealthProbe(fleet.baseUrl, { timeoutMs: 2000 });
    const healthy = new Map<string, Set<string>>();
    for (const c of finalState) {
      const report = await probe.probe({
        controlPlaneId: c.controlPlaneId,
        kind: c.kind,
        id: c.componentId,
      });
      if (report.status === 'pass')
        healthy.set(c.controlPlaneId, (healthy.get(c.controlPlaneId) ?? new Set()).add(c.componentId));
    }
    const audit = fs
      .readFileSync(auditLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as SimulatedAuditEntry);
    const verdict = judge({
      inventory,
      releases: RELEASES,
      leadMinutes: (tier, kind) =>
        tier === 'development' ? LEAD_MINUTES[kind] : tier === 'staging' ? (kind === 'lts' ? 2 * 1440 : 240) : 7 * 1440,
      audit,
      finalState,
      healthy,
      emails: hubspot.sentEmails,
      incidents: pagerDuty.opened.map((i) => ({ dedupKey: i.dedupKey, events: i.events })),
      alertLog: fs.existsSync(alertLog)
        ? fs
            .readFileSync(alertLog, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { dedupKey: string; severity: string; controlPlaneId: string })
        : [],
      controlPlanes: cps,
      fleets,
      settledAt,
    });
    return {
      verdict,
      kills: workers.kills,
      serverRestarts: restarts,
      actions,
      outages: { HubSpot: { ...mailProxy.refused }, PagerDuty: { ...pageProxy.refused } },
      durationMs: Date.now() - started,
      dir,
    };
  } finally {
    await workers.stopAll();
    await connection.close().catch(() => undefined);
    server.kill('SIGTERM');
    await fleet.close();
    await mailProxy.close();
    await pageProxy.close();
    await hubspot.close();
    await pagerDuty.close();
  }
}
