// Messages between the fleet rollouts and the control-plane workflows, sent from activities so that they are retried
// until accepted and so that no per-run Temporal limit (pending children, signals to external workflows) applies.
// The adapter behind MessengerPort is integrations/temporalMessenger.ts (the Temporal client).
import { ApplicationFailure, Context } from '@temporalio/activity';
import { assessEligibility } from '../domain/eligibility';
import type { ControlPlane } from '../domain/inventory';
import type { Release } from '../domain/release';
import { WAVES, waveOf, type RolloutPolicy, type Wave } from '../domain/rollout';
import { noticeLeadMinutes, type UpgradePolicy } from '../domain/policy';
import { compareVersions } from '../domain/versions';
import { windowOpenAt } from '../domain/window';
import type {
  AttemptOutcome,
  ControlPlaneStatus,
  ReleaseOffer,
  SlotAsk,
  SlotGrant,
  UpgradeReport,
  Withdrawal,
} from '../workflows/messages';
import type { ActivityDeps } from './deps';
import { NON_RETRYABLE, translating } from './errors';

/** What a describe (+ status query) of `control-plane/<id>` found. */
export type ControlPlaneProbe =
  | { controlPlaneId: string; found: false }
  /** Not running: completed, terminated, cancelled, failed, timed out, continued-as-new never here. */
  | { controlPlaneId: string; found: true; running: false; executionStatus: string; closedAt?: string }
  /** Running, but a workflow task is pending or failing, or the query failed: its state is not known right now. */
  | { controlPlaneId: string; found: true; running: true; busy: true; why: string }
  | { controlPlaneId: string; found: true; running: true; busy: false; status: ControlPlaneStatus };

/** A release that is still being rolled out or was rolled out to the end (not cancelled or superseded). */
export interface OpenRelease {
  release: Release;
  fleetWorkflowId: string;
  /** True while its fleet rollout runs (offers then go through it: slots, failure budget). */
  running: boolean;
  startedAt: string;
}

export interface MessengerPort {
  /** Signal-with-start `offer` to each `control-plane/<id>`; one failure does not stop the others. */
  offer(
    controlPlaneIds: string[],
    offer: ReleaseOffer,
  ): Promise<{ offered: string[]; failed: { id: string; error: string }[] }>;
  /** Signals a fleet rollout. `gone` with its execution status when it is closed or does not exist. */
  signalFleet(
    fleetWorkflowId: string,
    message:
      | { kind: 'report'; report: UpgradeReport }
      | { kind: 'ask-slot'; ask: SlotAsk }
      | { kind: 'return-slot'; controlPlaneId: string; releaseId: string },
  ): Promise<{ delivered: true } | { delivered: false; fleetStatus: string }>;
  /** Describes each control-plane workflow and queries the running ones. */
  inspect(controlPlaneIds: string[]): Promise<ControlPlaneProbe[]>;
  /** Releases whose fleet rollout is running or completed, newest first. */
  openReleases(): Promise<OpenRelease[]>;
  /** Control planes whose running workflow holds this release (in progress or pending; ReleaseId search attribute). */
  holding(releaseId: string): Promise<Set<string>>;
  /**
   * Signals `withdraw` to each `control-plane/<id>`; one failure does not stop the others. A workflow that does not
   * exist or no longer runs is `gone` (nothing to withdraw). Throws only when every signal failed to reach the
   * service (the activity retries); other failures are in `failed`.
   */
  withdraw(controlPlaneIds: string[], w: Withdrawal): Promise<WithdrawResult>;
  /** Signals `grant` to each `control-plane/<id>`; answers and throws as `withdraw` does. */
  grant(controlPlaneIds: string[], g: SlotGrant): Promise<WithdrawResult>;
}

export interface WithdrawResult {
  /** Running control-plane workflows that accepted the `withdraw` signal. */
  sent: string[];
  /** No control-plane workflow, or it is closed: nothing held the release. */
  gone: string[];
  /** Signals the service refused for another reason (not retried by the activity); absent when none. */
  failed?: { id: string; error: string }[];
}

/** The reconciler's verdict on one control plane a fleet still counts in flight. */
export type InFlightVerdict =
  | { controlPlaneId: string; verdict: 'in-flight' }
  | { controlPlaneId: string; verdict: 'unknown'; why: string }
  | { controlPlaneId: string; verdict: 'finished'; outcome: AttemptOutcome; changed: boolean; reason?: string }
  | { controlPlaneId: string; verdict: 'lost'; reason: string };

export interface OfferPageInput {
  release: Release;
  rollout: RolloutPolicy;
  wave: Wave;
  fleetWorkflowId: string;
  cursor?: string;
  pageSize: number;
  /** First pass over the fleet (canary listing): counts eligibility and offers to ineligible ones too (their status). */
  countEligibility: boolean;
}

export interface OfferPageResult {
  /** Eligible control planes of this wave that were offered the release (the fleet counts them in flight). */
  offered: string[];
  /** Offers that could not be delivered (after the activity's own retries ran out they are retried by the fleet). */
  failed: { id: string; error: string }[];
  /** Every control plane on the page, by reason ('eligible' for the eligible ones); only when countEligibility. */
  reasons: Record<string, number>;
  listed: number;
  nextCursor?: string;
  /**
   * Of `offered`, those that may start now (window open, notice period of at most a few minutes): they ask for a slot
   * within moments, and the fleet's pacing counts them.
   */
  due?: string[];
  /**
   * Only when countEligibility: the untracked offers to ineligible control planes (so each has a workflow whose
   * status says why not). Their failures are not in `failed`: the fleet does not count or retry them.
   */
  statusOffers?: { offered: number; failed: { id: string; error: string }[] };
}

export interface CatchUpPageInput {
  release: Release;
  /** Its fleet rollout, when it is running (offers then go through it). */
  fleetWorkflowId?: string;
  cursor?: string;
  pageSize: number;
}

export interface CatchUpPageResult {
  listed: number;
  /** Control planes that should have the release and had no workflow holding it: offered now. */
  offered: string[];
  failed: { id: string; error: string }[];
  nextCursor?: string;
}

/** Skip reasons the control plane's workflow still acts on (tells the customer), so the fleet tracks them anyway. */
const TRACK_ANYWAY = new Set<string>(['config-incompatible']);

function needMessenger(deps: ActivityDeps, activity: string): MessengerPort {
  if (deps.messenger) return deps.messenger;
  throw ApplicationFailure.nonRetryable(
    `${activity} needs ActivityDeps.messenger (the Temporal messenger that worker/worker.ts wireAdapters builds ` +
      `from TEMPORAL_ADDRESS and TEMPORAL_TASK_QUEUE), and this worker was started without one`,
    NON_RETRYABLE.notConfigured,
  );
}

/** The verdict on one control plane a fleet counts in flight for `releaseId`, from what a probe found. */
export function verdictOf(probe: ControlPlaneProbe, releaseId: string): InFlightVerdict {
  const { controlPlaneId } = probe;
  if (!probe.found) return { controlPlaneId, verdict: 'lost', reason: 'no control-plane workflow exists' };
  if (!probe.running)
    return { controlPlaneId, verdict: 'lost', reason: `control-plane workflow is ${probe.executionStatus}` };
  if (probe.busy) return { controlPlaneId, verdict: 'unknown', why: probe.why };
  const { status } = probe;
  if (status.upgrade?.releaseId === releaseId || status.pending?.releaseId === releaseId)
    return { controlPlaneId, verdict: 'in-flight' };
  const attempt = status.recent.filter((r) => r.releaseId === releaseId).at(-1);
  if (attempt)
    return {
      controlPlaneId,
      verdict: 'finished',
      outcome: attempt.outcome,
      changed: attempt.changed,
      ...(attempt.reason !== undefined ? { reason: attempt.reason } : {}),
    };
  const doing = status.upgrade ? `is upgrading to ${status.upgrade.releaseId}` : 'is idle';
  return { controlPlaneId, verdict: 'lost', reason: `control plane has no upgrade of ${releaseId}: it ${doing}` };
}

/** Starting within this of an offer counts as starting now (the offers' pacing, see workflows/fleetRollout.ts). */
const STARTS_NOW_MINUTES = 5;

/** Whether an upgrade offered now may start at once: its window is open and its notice period is (nearly) none. */
function mayStartNow(cp: ControlPlane, release: Release, policy: UpgradePolicy, now: Date): boolean {
  const lead = noticeLeadMinutes(policy, cp.tier, release.kind);
  return (
    lead <= STARTS_NOW_MINUTES &&
    windowOpenAt(cp.window, cp.blackouts, new Date(now.getTime() + lead * 60_000), 0) !== undefined
  );
}

/** How often a batch activity heartbeats (the fleet gives them a 30-second heartbeat timeout). */
const BATCH_HEARTBEAT_MS = 5_000;

/**
 * Runs `work` while heartbeating: a worker killed in the middle of a batch is noticed after the heartbeat timeout and
 * the batch retried (offers and withdrawals are idempotent), instead of after the whole startToClose.
 */
async function heartbeating<T>(work: () => Promise<T>): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return work(); // called outside an activity (unit tests)
  }
  const timer = setInterval(() => ctx.heartbeat(), BATCH_HEARTBEAT_MS);
  try {
    ctx.heartbeat();
    return await work();
  } finally {
    clearInterval(timer);
  }
}

export function controlPlaneActivities(deps: ActivityDeps) {
  const { inventory } = deps;
  return {
    /**
     * One inventory page of a fleet rollout: offers the release to the control planes of `wave` it tracks (eligible,
     * or blocked in a way the customer must hear of). On the first pass (countEligibility) it also counts every
     * control plane by reason and offers the release to the ineligible ones, untracked, so each shows why not.
     */
    async offerFleetPage(input: OfferPageInput): Promise<OfferPageResult> {
      const messenger = needMessenger(deps, 'offerFleetPage');
      return heartbeating(() =>
        translating(async () => {
          const page = await inventory.listControlPlanes({ cursor: input.cursor, limit: input.pageSize });
          const tracked: { id: string; wave: Wave }[] = [];
          const untracked: { id: string; wave: Wave }[] = [];
          const reasons: Record<string, number> = {};
          const now = new Date();
          const startsNow = new Set<string>();
          for (const { controlPlane: cp } of page.items) {
            const decision = assessEligibility(cp, input.release);
            const reason = decision.eligible ? 'eligible' : decision.reason;
            const wave = waveOf(cp, input.rollout);
            if (input.countEligibility) reasons[reason] = (reasons[reason] ?? 0) + 1;
            if (decision.eligible || TRACK_ANYWAY.has(reason)) {
              if (wave === input.wave) {
                tracked.push({ id: cp.id, wave });
                if (mayStartNow(cp, input.release, deps.policy, now)) startsNow.add(cp.id);
              }
            } else if (input.countEligibility) untracked.push({ id: cp.id, wave });
          }
          const offeredAt = new Date().toISOString();
          const send = (group: { id: string; wave: Wave }[], wave: Wave, statusOnly = false) =>
            messenger.offer(
              group.filter((g) => g.wave === wave).map((g) => g.id),
              {
                release: input.release,
                fleet: { workflowId: input.fleetWorkflowId, wave },
                source: 'fleet',
                offeredAt,
                ...(statusOnly ? { statusOnly: true } : {}),
              },
            );
          const offered: string[] = [];
          const failed: { id: string; error: string }[] = [];
          const statusOffers = { offered: 0, failed: [] as { id: string; error: string }[] };
          if (tracked.length > 0) {
            const r = await send(tracked, input.wave);
            offered.push(...r.offered);
            failed.push(...r.failed);
          }
          for (const wave of WAVES) {
            if (!untracked.some((u) => u.wave === wave)) continue;
            const r = await send(untracked, wave, true);
            statusOffers.offered += r.offered.length;
            statusOffers.failed.push(...r.failed);
          }
          return {
            offered,
            failed,
            due: offered.filter((id) => startsNow.has(id)),
            reasons,
            listed: page.items.length,
            nextCursor: page.nextCursor,
            ...(input.countEligibility ? { statusOffers } : {}),
          };
        }),
      );
    },

    /** Control plane → fleet: how the attempt ended. Not delivered when the fleet rollout is closed or missing. */
    async reportToFleet(input: {
      fleetWorkflowId: string;
      report: UpgradeReport;
    }): Promise<{ delivered: boolean; fleetStatus?: string }> {
      const messenger = needMessenger(deps, 'reportToFleet');
      return translating(() => messenger.signalFleet(input.fleetWorkflowId, { kind: 'report', report: input.report }));
    },

    /** Control plane → fleet: may I start changing? */
    async askFleetForSlot(input: {
      fleetWorkflowId: string;
      ask: SlotAsk;
    }): Promise<{ delivered: boolean; fleetStatus?: string }> {
      const messenger = needMessenger(deps, 'askFleetForSlot');
      return translating(() => messenger.signalFleet(input.fleetWorkflowId, { kind: 'ask-slot', ask: input.ask }));
    },

    /** Control plane → fleet: the slot granted is not used (after all, or any more). */
    async returnFleetSlot(input: {
      fleetWorkflowId: string;
      controlPlaneId: string;
      releaseId: string;
    }): Promise<{ delivered: boolean; fleetStatus?: string }> {
      const messenger = needMessenger(deps, 'returnFleetSlot');
      const { controlPlaneId, releaseId } = input;
      return translating(() =>
        messenger.signalFleet(input.fleetWorkflowId, { kind: 'return-slot', controlPlaneId, releaseId }),
      );
    },

    /** The fleet's reconciler: what became of the control planes it still counts in flight for `releaseId`. */
    async inspectControlPlanes(input: { releaseId: string; controlPlaneIds: string[] }): Promise<InFlightVerdict[]> {
      const messenger = needMessenger(deps, 'inspectControlPlanes');
      return heartbeating(() =>
        translating(async () =>
          (await messenger.inspect(input.controlPlaneIds)).map((probe) => verdictOf(probe, input.releaseId)),
        ),
      );
    },

    /**
     * Fleet → control planes: the release is withdrawn (fleet cancelled, or superseded by a newer release). A control
     * plane without a running workflow counts as `gone`, not as an error.
     */
    async withdrawRelease(input: { controlPlaneIds: string[]; withdrawal: Withdrawal }): Promise<WithdrawResult> {
      const messenger = needMessenger(deps, 'withdrawRelease');
      if (input.controlPlaneIds.length === 0) return { sent: [], gone: [] };
      return heartbeating(() => translating(() => messenger.withdraw(input.controlPlaneIds, input.withdrawal)));
    },

    /**
     * Delivers a fleet's slot grants (signal `grant` to each control plane). Sent from an activity, not as the fleet's
     * own signals to external workflows: the server delivers those from its transfer queue, which under load took
     * seconds to a minute (bench at 1,000: p50 1.5 s, p90 17.5 s, max 68.5 s), while the granted slot stood idle.
     */
    async grantSlots(input: { controlPlaneIds: string[]; grant: SlotGrant }): Promise<WithdrawResult> {
      const messenger = needMessenger(deps, 'grantSlots');
      if (input.controlPlaneIds.length === 0) return { sent: [], gone: [] };
      return heartbeating(() => translating(() => messenger.grant(input.controlPlaneIds, input.grant)));
    },

    /** Releases whose fleet rollout runs or rolled out to the end, newest first. */
    async listOpenReleases(): Promise<OpenRelease[]> {
      const messenger = needMessenger(deps, 'listOpenReleases');
      return translating(() => messenger.openReleases());
    },

    /**
     * After an attempt ends: the newest open release (highest Gateway target) that this control plane, as the
     * inventory has it now, is eligible for, other than `exceptReleaseIds`; with its fleet rollout when that runs.
     */
    async findFollowUpRelease(input: {
      controlPlaneId: string;
      exceptReleaseIds: string[];
    }): Promise<{ release: Release; fleetWorkflowId?: string } | undefined> {
      const messenger = needMessenger(deps, 'findFollowUpRelease');
      return translating(async () => {
        const record = await inventory.getControlPlane(input.controlPlaneId);
        if (!record) return undefined;
        const except = new Set(input.exceptReleaseIds);
        const candidates = (await messenger.openReleases())
          .filter((o) => !except.has(o.release.id) && assessEligibility(record.controlPlane, o.release).eligible)
          .sort((a, b) => compareVersions(b.release.targets.gateway, a.release.targets.gateway));
        const best = candidates[0];
        if (!best) return undefined;
        return { release: best.release, ...(best.running ? { fleetWorkflowId: best.fleetWorkflowId } : {}) };
      });
    },

    /**
     * The catch-up schedule, one inventory page: offers `release` to every eligible control plane that has no
     * running workflow holding it (a lost offer, a control plane added or opted in after its fleet listed it).
     */
    async catchUpPage(input: CatchUpPageInput): Promise<CatchUpPageResult> {
      const messenger = needMessenger(deps, 'catchUpPage');
      return translating(async () => {
        const page = await inventory.listControlPlanes({ cursor: input.cursor, limit: input.pageSize });
        const eligible = page.items
          .filter(({ controlPlane: cp }) => assessEligibility(cp, input.release).eligible)
          .map(({ controlPlane: cp }) => cp.id);
        const result: CatchUpPageResult = { listed: page.items.length, offered: [], failed: [] };
        if (page.nextCursor !== undefined) result.nextCursor = page.nextCursor;
        if (eligible.length === 0) return result;
        const holding = await messenger.holding(input.release.id);
        const missing = eligible.filter((id) => !holding.has(id));
        if (missing.length === 0) return result;
        const { offered, failed } = await messenger.offer(missing, {
          release: input.release,
          // The fleet listed the canary wave long ago; a late-comer joins the main wave.
          ...(input.fleetWorkflowId ? { fleet: { workflowId: input.fleetWorkflowId, wave: 'main' as const } } : {}),
          source: 'catch-up',
          offeredAt: new Date().toISOString(),
        });
        return { ...result, offered, failed };
      });
    },
  };
}
