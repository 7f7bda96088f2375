// The Tyk health soak in the verify activity, run in the SDK's activity test environment with a scripted health port.
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { ActivityDeps } from '../../activities/deps';
import { healthActivities, MAX_EVIDENCE, type VerifyResult } from '../../activities/health';
import type { HealthPort } from '../../activities/ports';
import type { ComponentRef, HealthReport, HealthStatus } from '../../domain/model';
import { DEFAULT_POLICY } from '../../domain/policy';

const gateway: ComponentRef = { controlPlaneId: 'cp-acme', kind: 'gateway', id: 'gateway' };

/** Answers the scripted probes in order, then repeats the last one. */
function scripted(answers: [HealthStatus, string?, string?][]): HealthPort & { probes: number } {
  let i = 0;
  return {
    probes: 0,
    async probe(component): Promise<HealthReport> {
      this.probes++;
      const [status, version, output] = answers[Math.min(i++, answers.length - 1)]!;
      return {
        component,
        status,
        ...(version ? { version } : {}),
        ...(output ? { details: { redis: { status, output } } } : {}),
        ...(status === 'unreachable' ? { error: 'GET http://gw/hello failed: ECONNREFUSED' } : { httpStatus: 200 }),
        at: new Date().toISOString(),
      };
    },
  };
}

function verifyWith(health: HealthPort, verify: Partial<ActivityDeps['policy']['verify']>) {
  const policy = { ...DEFAULT_POLICY, verify: { ...DEFAULT_POLICY.verify, ...verify } };
  const { verifyComponent } = healthActivities({ health, policy } as ActivityDeps);
  const env = new MockActivityEnvironment();
  const heartbeats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => heartbeats.push(d));
  return {
    heartbeats,
    run: (): Promise<VerifyResult> => env.run(verifyComponent, { component: gateway, expectedVersion: '5.8.2' }),
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
    expect(r).toMatchObject({ outcome: 'warn', probes: 2, summary: 'warn on 5.8.2: redis: warn (redis slow)' });
    expect(r.evidence.at(-1)).toMatchObject({ status: 'warn', version: '5.8.2', problems: 'redis: warn (redis slow)' });
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
    const answers: [HealthStatus, string?][] = Array.from({ length: MAX_EVIDENCE + 5 }, () => ['pass', '5.3.4']);
    const health = scripted([...answers, ['pass', '5.8.2']]);
    const r = await verifyWith(health, { consecutivePasses: 1, intervalMs: 1, soakMs: 0, timeoutMs: 10_000 }).run();
    expect(r.probes).toBe(MAX_EVIDENCE + 6);
    expect(r.evidence).toHaveLength(MAX_EVIDENCE);
    expect(r.evidence.at(-1)).toMatchObject({ version: '5.8.2' });
  });
});
