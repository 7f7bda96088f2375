import { ApplicationFailure, CancelledFailure, Context, sleep } from '@temporalio/activity';
import { componentLabel, probeRecord, type ComponentRef, type HealthReport, type ProbeRecord } from '../domain/model';
import { checkDurationOf, verifyPolicyProblems } from '../domain/policy';
import type { ActivityDeps } from './deps';
import { NON_RETRYABLE } from './errors';

/** How many probes a verification keeps as evidence (the newest); enough to show a soak without bloating history. */
export const MAX_EVIDENCE = 20;

export interface VerifyResult {
  /**
   * `pass`: the soak held. `warn`: the component answers on the expected version but Tyk reports degraded checks;
   * the workflow pauses and pages instead of deciding alone. (Results recorded before soaks existed lack it: pass.)
   */
  outcome?: 'pass' | 'warn';
  passes: number;
  probes: number;
  /** Time from the first to the last probe of the passing streak. */
  soakedMs?: number;
  /** The newest probes, oldest first. */
  evidence: ProbeRecord[];
  /** For `warn`: what the degraded probe said, in words. */
  summary?: string;
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${Math.round(ms / 1000)}s`;
}

function describe(r: ProbeRecord): string {
  const version = r.version ? ` on ${r.version}` : '';
  return `${r.status}${version}${r.problems ? `: ${r.problems}` : ''}`;
}

/**
 * A probe this activity's cancellation cut short (worker shutdown, a cancel request, a lost heartbeat) says nothing
 * about the component: the port reports it `unreachable`, "probe aborted". Taken as health, a worker deploy during
 * pre-flight failed upgrades before any change, and during verification could fail one that was healthy (seen in the
 * fault matrix). The activity ends cancelled instead: after a worker shutdown the server retries it on another worker.
 */
function throwIfCancelled(): void {
  const signal = Context.current().cancellationSignal;
  if (!signal.aborted) return;
  throw signal.reason instanceof CancelledFailure ? signal.reason : new CancelledFailure(String(signal.reason));
}

export function healthActivities({ health, policy }: ActivityDeps) {
  return {
    /** One probe of each component; the workflow decides what a failing one means. */
    async probeComponents(components: ComponentRef[]): Promise<HealthReport[]> {
      const reports = await Promise.all(components.map((c) => health.probe(c, Context.current().cancellationSignal)));
      throwIfCancelled();
      return reports;
    },

    /**
     * Tyk /hello soak after a step. Ends when `consecutivePasses` probes in a row answer `pass` on the expected version
     * over at least the soak (→ pass); at the first `warn` on the expected version (→ warn, for the workflow to pause
     * and page); at the first `fail` on it (→ non-retryable failure: compensate). Old pods answering the old
     * version, no answer at all, or a Gateway that has not run its first check yet (`pass` with empty details: no
     * evidence) only restart the streak until `timeoutMs`. Every probe is heartbeated.
     *
     * The soak is `soakMs`, and for a Gateway at least Tyk's check_duration (`checkDurationMs`): a Gateway re-runs its
     * checks only that often, so a shorter soak would count the same check results several times. The Dashboard's
     * /hello is liveness only, with no checks: its soak is `soakMs`.
     */
    async verifyComponent(input: { component: ComponentRef; expectedVersion: string }): Promise<VerifyResult> {
      const { consecutivePasses, intervalMs, soakMs, timeoutMs } = policy.verify;
      const what = `${componentLabel(input.component)} of ${input.component.controlPlaneId}`;
      const hasChecks = input.component.kind !== 'dashboard';
      if (hasChecks) {
        const problems = verifyPolicyProblems(policy.verify);
        // A misconfiguration, not the component's fault: say so at once rather than after a soak that cannot end.
        if (problems.length > 0)
          throw ApplicationFailure.nonRetryable(
            `${what} cannot be verified: ${problems.join('; ')}`,
            NON_RETRYABLE.verificationFailed,
          );
      }
      const checkDurationMs = checkDurationOf(policy.verify);
      const floored = hasChecks && checkDurationMs > soakMs;
      const requiredSoakMs = floored ? checkDurationMs : soakMs;
      const started = Date.now();
      const deadline = started + timeoutMs;
      const evidence: ProbeRecord[] = [];
      let probes = 0;
      let streak: ProbeRecord[] = [];
      for (;;) {
        const report = await health.probe(input.component, Context.current().cancellationSignal);
        throwIfCancelled();
        const record = probeRecord(report);
        probes++;
        evidence.push(record);
        if (evidence.length > MAX_EVIDENCE) evidence.shift();
        const onTarget = report.version === input.expectedVersion;
        // A pass with no check results is a Gateway (re)started moments ago: it says nothing about its health yet.
        const evidenceOfHealth = report.status === 'pass' && onTarget && !report.awaitingFirstCheck;
        streak = evidenceOfHealth ? [...streak, record] : [];
        const soakedMs = streak.length > 1 ? Date.parse(streak.at(-1)!.at) - Date.parse(streak[0]!.at) : 0;
        Context.current().heartbeat({
          probes,
          passes: streak.length,
          soakedMs,
          status: report.status,
          ...(report.awaitingFirstCheck ? { awaitingFirstCheck: true } : {}),
        });

        if (streak.length >= consecutivePasses && soakedMs >= requiredSoakMs)
          return { outcome: 'pass', passes: streak.length, probes, soakedMs, evidence };
        if (onTarget && report.status === 'warn')
          return { outcome: 'warn', passes: 0, probes, evidence, summary: describe(record) };
        if (onTarget && report.status === 'fail')
          throw ApplicationFailure.nonRetryable(
            `${what} answered ${describe(record)}`,
            NON_RETRYABLE.verificationFailed,
            evidence,
          );
        if (Date.now() + intervalMs > deadline) break;
        await sleep(intervalMs);
      }
      const soak = floored
        ? ` over ${duration(requiredSoakMs)} (the Gateway's check_duration)`
        : requiredSoakMs > 0
          ? ` over ${duration(requiredSoakMs)}`
          : '';
      throw ApplicationFailure.nonRetryable(
        `${what} did not answer pass on ${input.expectedVersion} ${consecutivePasses} times in a row${soak} within ${duration(timeoutMs)}; last probe: ${describe(evidence.at(-1)!)}`,
        NON_RETRYABLE.verificationFailed,
        evidence,
      );
    },
  };
}
