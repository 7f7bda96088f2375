// The Tyk health soak in the verify activity, run in the SDK's activity test environment with a scripted health port.
import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { ActivityDeps } from '../../activities/deps';
import { healthActivities, MAX_EVIDENCE, type VerifyResult } from '../../activities/health';
import type { HealthPort } from '../../activities/ports';
import type { ComponentRef, HealthReport, HealthStatus } from '../../domain/model';
import { DEFAULT_POLICY, TYK_DEFAULT_CHECK_DURATION_MS, verifyPolicyProblems } from '../../domain/policy';

const gateway: ComponentRef = { controlPlaneId: 'cp-acme', kind: 'gateway', id: 'gateway' };
const dataPlane: ComponentRef = { controlPlaneId: 'cp-acme', kind: 'data-plane', id: 'dp-eu' };
const dashboard: ComponentRef = { controlPlaneId: 'cp-acme', kind: 'dashboard', id: 'dashboard' };

/**
 * One scripted answer: status, version, the output of a redis check (when given, the report has details), and
 * `fresh`: a Gateway before its first check (pass, no details).
 */
type Answer = [HealthStatus, string?, string?] | [HealthStatus, string, undefined, 'fresh'];

/** Answers the scripted probes in order, then repeats the last one. */
function scripted(answers: Answer[]): HealthPort & { probes: number } {
  let i = 0;
  return {
    probes: 0,
    async probe(component): Promise<HealthReport> {
      this.probes++;
      const [status, version, output, fresh] = answers[Math.min(i++, answers.length - 1)]!;
      const redis = status === 'pass' ? 'pass' : 'fail';
      return {
        component,
        status,
        ...(version ? { version } : {}),
        ...(output ? { details: { redis: { status: redis, output } } } : {}),
        ...(fresh ? { awaitingFirstCheck: true } : {}),
        ...(status === 'unreachable' ? { error: 'GET http://gw/hello failed: ECONNREFUSED' } : { httpStatus: 200 }),
        at: new Date().toISOString(),
      };
    },
  };
}

/** A small Tyk check_duration, so the soak floor it sets stays below the short soaks of these tests. */
const CHECK_MS = 1;

function verifyWith(
  health: HealthPort,
  verify: Partial<ActivityDeps['policy']['verify']>,
  component: ComponentRef = gateway,
) {
  const policy = { ...DEFAULT_POLICY, verify: { ...DEFAULT_POLICY.verify, checkDurationMs: CHECK_MS, ...verify } };
  const { verifyComponent } = healthActivities({ health, policy } as ActivityDeps);
  const env = new MockActivityEnvironment();
  const heartbeats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => heartbeats.push(d));
  return {
    heartbeats,
    run: (): Promise<VerifyResult> => env.run(verifyComponent, { component, expectedVersion: '5.8.2' }),
  };
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('verifyComponent: Tyk health soak', () => {
  it('needs N passes in a row on the target version that span the soak period, heartbeating every probe', async () => {
    const health = scripted([['pass', '5.8.2']]);
    const v = verifyWith(health, { consecutivePasses: 2, intervalMs: 10, soakMs: 80, timeoutMs: 5000 });
    const r = await v.run();
    expect(r.outcome).toBe('pass');
    expect(r.soakedMs).toBeGreaterThanOrEqual(80);
    // Two passes would have been enough without the soak; the soak asked for more.
    expect(r.passes).toBeGreaterThan(2);
    expect(r.probes).toBe(health.probes);
    expect(v.heartbeats).toHaveLength(health.probes);
    expect(r.evidence.every((p) => p.status === 'pass' && p.version === '5.8.2')).toBe(true);
  });

  it('restarts the streak while old pods answer the old version or nothing answers', async () => {
    const health = scripted([
      ['pass', '5.8.2'],
      ['pass', '5.3.4'],
      ['unreachable'],
      ['pass', '5.8.2'],
      ['pass', '5.8.2'],
    ]);
    const r = await verifyWith(health, { consecutivePasses: 2, intervalMs: 5, soakMs: 0, timeoutMs: 5000 }).run();
    expect(r).toMatchObject({ outcome: 'pass', passes: 2, probes: 5 });
    expect(r.evidence.map((p) => p.status)).toEqual(['pass', 'pass', 'unreachable', 'pass', 'pass']);
    expect(r.evidence[2]!.problems).toContain('ECONNREFUSED');
  });

  it('returns warn at the first degraded answer on the target version, with what Tyk said', async () => {
    const health = scripted([
      ['pass', '5.8.2'],
      ['warn', '5.8.2', 'redis slow'],
    ]);
    const r = await verifyWith(health, { consecutivePasses: 3, intervalMs: 5, soakMs: 0, timeoutMs: 5000 }).run();
    expect(r).toMatchObject({ outcome: 'warn', probes: 2, summary: 'warn on 5.8.2: redis: fail (redis slow)' });
    expect(r.evidence.at(-1)).toMatchObject({ status: 'warn', version: '5.8.2', problems: 'redis: fail (redis slow)' });
  });

  it('fails at once, not retryable, when the target version answers fail; the probes travel as details', async () => {
    const health = scripted([
      ['pass', '5.8.2'],
      ['fail', '5.8.2', 'redis unreachable'],
    ]);
    const err = await failureOf(
      verifyWith(health, { consecutivePasses: 3, intervalMs: 5, soakMs: 0, timeoutMs: 60_000 }).run(),
    );
    expect(err.nonRetryable).toBe(true);
    expect(err.type).toBe('VerificationFailed');
    expect(err.message).toBe('gateway of cp-acme answered fail on 5.8.2: redis: fail (redis unreachable)');
    expect(health.probes).toBe(2);
    expect((err.details?.[0] as { status: string }[]).map((p) => p.status)).toEqual(['pass', 'fail']);
  });

  it('gives up at the timeout with the last probe, when the soak never completes', async () => {
    const health = scripted([['unreachable']]);
    const err = await failureOf(
      verifyWith(health, { consecutivePasses: 2, intervalMs: 10, soakMs: 30, timeoutMs: 200 }).run(),
    );
    expect(err.message).toMatch(
      /^gateway of cp-acme did not answer pass on 5\.8\.2 2 times in a row over 30ms within 200ms; last probe: unreachable: GET http:\/\/gw\/hello failed: ECONNREFUSED$/,
    );
  });

  it(`keeps the newest ${MAX_EVIDENCE} probes as evidence`, async () => {
    const answers: Answer[] = Array.from({ length: MAX_EVIDENCE + 5 }, () => ['pass', '5.3.4']);
    const health = scripted([...answers, ['pass', '5.8.2']]);
    // The Dashboard: no check_duration floor, so one pass on the target is enough.
    const r = await verifyWith(
      health,
      { consecutivePasses: 1, intervalMs: 1, soakMs: 0, timeoutMs: 10_000 },
      dashboard,
    ).run();
    expect(r.probes).toBe(MAX_EVIDENCE + 6);
    expect(r.evidence).toHaveLength(MAX_EVIDENCE);
    expect(r.evidence.at(-1)).toMatchObject({ version: '5.8.2' });
  });

  it('never counts a Gateway that has not run its first check (pass, empty details) toward the streak', async () => {
    const health = scripted([
      ['pass', '5.8.2', undefined, 'fresh'],
      ['pass', '5.8.2', undefined, 'fresh'],
      ['pass', '5.8.2', undefined, 'fresh'],
      ['pass', '5.8.2'],
      ['pass', '5.8.2'],
    ]);
    const r = await verifyWith(health, { consecutivePasses: 2, intervalMs: 5, soakMs: 0, timeoutMs: 5000 }).run();
    expect(r).toMatchObject({ outcome: 'pass', passes: 2, probes: 5 });
    expect(r.evidence.slice(0, 3).every((p) => p.status === 'pass' && p.awaitingFirstCheck === true)).toBe(true);
    expect(r.evidence[0]!.problems).toBe(
      'no check results yet (Tyk runs its first check one check_duration after start)',
    );
    expect(r.evidence.slice(3).every((p) => p.awaitingFirstCheck === undefined)).toBe(true);
  });

  it('a probe with empty details restarts the streak (another pod, just started), and never ends a soak', async () => {
    const health = scripted([
      ['pass', '5.8.2'],
      ['pass', '5.8.2', undefined, 'fresh'],
      ['pass', '5.8.2'],
      ['pass', '5.8.2'],
    ]);
    const r = await verifyWith(health, { consecutivePasses: 2, intervalMs: 5, soakMs: 0, timeoutMs: 5000 }).run();
    expect(r).toMatchObject({ outcome: 'pass', passes: 2, probes: 4 });

    const stuck = scripted([['pass', '5.8.2', undefined, 'fresh']]);
    const err = await failureOf(
      verifyWith(stuck, { consecutivePasses: 2, intervalMs: 10, soakMs: 0, timeoutMs: 150 }).run(),
    );
    expect(err.type).toBe('VerificationFailed');
    expect(err.message).toContain('last probe: pass on 5.8.2: no check results yet');
  });

  it("a Gateway's soak lasts at least Tyk's check_duration, even when soakMs is shorter", async () => {
    for (const component of [gateway, dataPlane]) {
      const health = scripted([['pass', '5.8.2']]);
      const r = await verifyWith(
        health,
        { consecutivePasses: 2, intervalMs: 10, soakMs: 0, timeoutMs: 5000, checkDurationMs: 120 },
        component,
      ).run();
      expect(r.outcome).toBe('pass');
      expect(r.soakedMs).toBeGreaterThanOrEqual(120);
      expect(r.passes).toBeGreaterThan(2);
    }
  });

  it('the Dashboard (liveness only, no checks) has no check_duration floor', async () => {
    const health = scripted([['pass', '5.8.2']]);
    const r = await verifyWith(
      health,
      { consecutivePasses: 2, intervalMs: 5, soakMs: 0, timeoutMs: 5000, checkDurationMs: 10_000 },
      dashboard,
    ).run();
    expect(r).toMatchObject({ outcome: 'pass', passes: 2, probes: 2 });
  });

  it("says so in the timeout message when the soak was Tyk's check_duration", async () => {
    const health = scripted([['unreachable']]);
    const err = await failureOf(
      verifyWith(health, {
        consecutivePasses: 2,
        intervalMs: 10,
        soakMs: 30,
        timeoutMs: 200,
        checkDurationMs: 100,
      }).run(),
    );
    expect(err.message).toContain("2 times in a row over 100ms (the Gateway's check_duration) within 200ms");
  });

  it("fails at once, without probing, when Tyk's check_duration does not fit in the timeout", async () => {
    const health = scripted([['pass', '5.8.2']]);
    const err = await failureOf(
      verifyWith(health, {
        consecutivePasses: 2,
        intervalMs: 10,
        soakMs: 0,
        timeoutMs: 5000,
        checkDurationMs: 5000,
      }).run(),
    );
    expect(err.nonRetryable).toBe(true);
    expect(err.type).toBe('VerificationFailed');
    expect(err.message).toContain('verify.checkDurationMs (5000 ms) must be shorter than verify.timeoutMs (5000 ms)');
    expect(health.probes).toBe(0);
  });

  it("without checkDurationMs the policy assumes Tyk's default check_duration, 10 s", async () => {
    expect(TYK_DEFAULT_CHECK_DURATION_MS).toBe(10_000);
    expect(DEFAULT_POLICY.verify.checkDurationMs).toBe(10_000);
    const { checkDurationMs: _unused, ...withoutCheck } = DEFAULT_POLICY.verify;
    expect(verifyPolicyProblems({ ...withoutCheck, timeoutMs: 8000 })).toEqual([
      "verify.checkDurationMs (10000 ms, Tyk's default check_duration) must be shorter than verify.timeoutMs (8000 ms): a Gateway's soak lasts at least one check_duration",
    ]);
    expect(verifyPolicyProblems(DEFAULT_POLICY.verify)).toEqual([]);
    expect(verifyPolicyProblems({ ...DEFAULT_POLICY.verify, checkDurationMs: 0 })).toEqual([
      'verify.checkDurationMs must be a positive number of milliseconds (Tyk treats 0 as its default, 10 s), got 0',
    ]);
  });
});

/**
 * A probe that answers only when its caller aborts it, the way HttpHealthProbe does: `unreachable`, "probe aborted"
 * (the port never throws). Seen in the fault matrix: a worker shut down during pre-flight turned that answer into
 * "unhealthy before any change", and the upgrade failed before any change with an SRE alert.
 */
function answersOnlyWhenAborted(): HealthPort & { started: Promise<void> } {
  let started!: () => void;
  return {
    started: new Promise<void>((r) => (started = r)),
    probe(component, signal): Promise<HealthReport> {
      started();
      return new Promise((resolve) =>
        signal?.addEventListener('abort', () =>
          resolve({
            component,
            status: 'unreachable',
            error: 'GET http://gw/hello: probe aborted',
            at: new Date().toISOString(),
          }),
        ),
      );
    },
  };
}

describe("a probe cut short by the activity's cancellation (worker shutdown, cancel request) is no health report", () => {
  it('probeComponents ends cancelled, not with an unreachable component', async () => {
    const health = answersOnlyWhenAborted();
    const { probeComponents } = healthActivities({
      health: health as HealthPort,
      policy: DEFAULT_POLICY,
    } as ActivityDeps);
    const env = new MockActivityEnvironment();
    const run = env.run(probeComponents, [gateway, dashboard]);
    await health.started;
    env.cancel('WORKER_SHUTDOWN');
    await expect(run).rejects.toBeInstanceOf(CancelledFailure);
  });

  it('verifyComponent ends cancelled, not with a failed verification, when the cut-short probe passes its deadline', async () => {
    const health = answersOnlyWhenAborted();
    const policy = {
      ...DEFAULT_POLICY,
      verify: {
        ...DEFAULT_POLICY.verify,
        checkDurationMs: CHECK_MS,
        consecutivePasses: 2,
        intervalMs: 10,
        soakMs: 0,
        timeoutMs: 20,
      },
    };
    const { verifyComponent } = healthActivities({ health: health as HealthPort, policy } as ActivityDeps);
    const env = new MockActivityEnvironment();
    const run = env.run(verifyComponent, { component: gateway, expectedVersion: '5.8.2' });
    await health.started;
    await new Promise((r) => setTimeout(r, 50));
    env.cancel('WORKER_SHUTDOWN');
    await expect(run).rejects.toBeInstanceOf(CancelledFailure);
  });
});
