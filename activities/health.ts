import { ApplicationFailure, Context, sleep } from '@temporalio/activity';
import { componentLabel, type ComponentRef, type HealthReport } from '../domain/model';
import type { ActivityDeps } from './deps';
import { NON_RETRYABLE } from './errors';

export interface VerifyResult {
  passes: number;
  probes: number;
  /** The passing probes that make up the evidence. */
  evidence: HealthReport[];
}

function describe(r: HealthReport): string {
  const failing = Object.entries(r.details ?? {})
    .filter(([, d]) => d.status !== 'pass')
    .map(([name, d]) => `${name}: ${d.status}${d.output ? ` (${d.output})` : ''}`);
  const version = r.version ? ` on ${r.version}` : '';
  const extra = r.error ? `: ${r.error}` : failing.length ? `: ${failing.join('; ')}` : '';
  return `${r.status}${version}${extra}`;
}

export function healthActivities({ health, policy }: ActivityDeps) {
  return {
    /** One probe of each component; the workflow decides what a failing one means. */
    async probeComponents(components: ComponentRef[]): Promise<HealthReport[]> {
      return Promise.all(components.map((c) => health.probe(c, Context.current().cancellationSignal)));
    },

    /**
     * Waits until the component answers `pass` on the expected version for N probes in a row, heartbeating each
     * probe. Fails (not retried) with the last probe's evidence when that does not happen in time.
     */
    async verifyComponent(input: { component: ComponentRef; expectedVersion: string }): Promise<VerifyResult> {
      const { consecutivePasses, intervalMs, timeoutMs } = policy.verify;
      const deadline = Date.now() + timeoutMs;
      const evidence: HealthReport[] = [];
      let probes = 0;
      let last: HealthReport | undefined;
      for (;;) {
        last = await health.probe(input.component, Context.current().cancellationSignal);
        probes++;
        const good = last.status === 'pass' && last.version === input.expectedVersion;
        if (good) evidence.push(last);
        else evidence.length = 0;
        Context.current().heartbeat({ probes, passes: evidence.length, status: last.status, version: last.version });
        if (evidence.length >= consecutivePasses) return { passes: evidence.length, probes, evidence };
        if (Date.now() + intervalMs > deadline) break;
        await sleep(intervalMs);
      }
      const what = `${componentLabel(input.component)} of ${input.component.controlPlaneId}`;
      throw ApplicationFailure.nonRetryable(
        `${what} did not answer pass on ${input.expectedVersion} ${consecutivePasses} times in a row within ${Math.round(timeoutMs / 1000)}s; last probe: ${describe(last)}`,
        NON_RETRYABLE.verificationFailed,
        last,
      );
    },
  };
}
