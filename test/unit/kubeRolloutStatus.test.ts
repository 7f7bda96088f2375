import { rolloutStatus, type DeploymentLike } from '../../integrations/kubeRolloutStatus';

function deployment(
  status: DeploymentLike['status'],
  opts: { generation?: number; replicas?: number | undefined } = {},
): DeploymentLike {
  return {
    metadata: { name: 'gateway-tyk-tyk-gateway', generation: opts.generation ?? 2 },
    spec: 'replicas' in opts ? { replicas: opts.replicas } : { replicas: 2 },
    status,
  };
}

const progressing = { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: 'progressing' };

describe('rolloutStatus (as kubectl rollout status decides)', () => {
  it('waits until the controller has observed the latest generation, whatever the counts say', () => {
    const s = rolloutStatus(
      deployment({ observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2 }),
    );
    expect(s).toMatchObject({ state: 'progressing', counts: { generation: 2, observedGeneration: 1 } });
    expect(s.message).toContain('generation 2');
    expect(rolloutStatus({ metadata: { generation: 1 } }).state).toBe('progressing');
  });

  it('fails on ProgressDeadlineExceeded with the condition message', () => {
    const s = rolloutStatus(
      deployment({
        observedGeneration: 2,
        replicas: 3,
        updatedReplicas: 2,
        availableReplicas: 1,
        conditions: [
          {
            type: 'Progressing',
            status: 'False',
            reason: 'ProgressDeadlineExceeded',
            message: 'ReplicaSet "gw-abc" has timed out progressing.',
          },
        ],
      }),
    );
    expect(s.state).toBe('failed');
    expect(s).toMatchObject({ reason: 'ProgressDeadlineExceeded' });
    expect(s.message).toBe(
      'gateway-tyk-tyk-gateway exceeded its progress deadline (ProgressDeadlineExceeded): ' +
        'ReplicaSet "gw-abc" has timed out progressing.',
    );
  });

  it('a deadline condition for an older generation does not count until the new one is observed', () => {
    const stale = { ...progressing, status: 'False', reason: 'ProgressDeadlineExceeded' };
    expect(rolloutStatus(deployment({ observedGeneration: 1, conditions: [stale] })).state).toBe('progressing');
  });

  it('waits for every replica to be updated', () => {
    const s = rolloutStatus(
      deployment({
        observedGeneration: 2,
        replicas: 3,
        updatedReplicas: 1,
        availableReplicas: 2,
        conditions: [progressing],
      }),
    );
    expect(s).toMatchObject({ state: 'progressing', message: '1 of 2 replicas of gateway-tyk-tyk-gateway updated' });
  });

  it('waits for old replicas to terminate', () => {
    const s = rolloutStatus(
      deployment({ observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 2 }),
    );
    expect(s).toMatchObject({
      state: 'progressing',
      message: '1 old replicas of gateway-tyk-tyk-gateway pending termination',
    });
  });

  it('waits for updated replicas to be available, not merely ready', () => {
    const s = rolloutStatus(
      deployment({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 1 }),
    );
    expect(s).toMatchObject({ state: 'progressing', counts: { ready: 2, available: 1 } });
    expect(s.message).toBe('1 of 2 updated replicas of gateway-tyk-tyk-gateway available');
  });

  it('is done when all replicas are updated and available and no old ones are left', () => {
    const s = rolloutStatus(
      deployment({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 }),
    );
    expect(s).toEqual({
      state: 'done',
      message: 'gateway-tyk-tyk-gateway rolled out: 2 of 2 replicas updated and available',
      counts: { generation: 2, observedGeneration: 2, desired: 2, replicas: 2, updated: 2, ready: 2, available: 2 },
    });
  });

  it('treats absent counts as zero (the API server omits them) and a Deployment scaled to 0 as done', () => {
    expect(rolloutStatus(deployment({ observedGeneration: 2 }, { replicas: 0 })).state).toBe('done');
    expect(rolloutStatus(deployment({ observedGeneration: 2 })).state).toBe('progressing');
  });

  it('without spec.replicas, skips the updated-vs-desired check as kubectl does', () => {
    const s = rolloutStatus(
      deployment(
        { observedGeneration: 2, replicas: 1, updatedReplicas: 1, availableReplicas: 1 },
        { replicas: undefined },
      ),
    );
    expect(s).toMatchObject({ state: 'done', counts: { desired: undefined } });
  });
});
