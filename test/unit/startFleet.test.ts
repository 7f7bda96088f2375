import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Release } from '../../domain/release';
import { fleetDetails, fleetInput, START_TOKEN_MEMO, startFleetUpgrade } from '../../client/startFleet';
import { ReleaseId, TargetVersion, UpgradeStage } from '../../workflows/searchAttributes';

const release: Release = {
  id: 'lts-5.8.2',
  kind: 'lts',
  targets: { dashboard: '5.8.2', gateway: '5.8.2' },
  notesUrl: 'https://tyk.io/docs/release-notes',
};

/**
 * A stand-in for the Temporal service's start semantics with USE_EXISTING + REJECT_DUPLICATE: one execution per
 * workflow id; a start while it runs returns it; a start after it closed fails. Describe returns its memo.
 */
function fakeService() {
  const runs = new Map<string, { runId: string; memo: Record<string, unknown>; closed: boolean; options: unknown }>();
  const starts: { type: string; options: Record<string, unknown> }[] = [];
  const client = {
    workflow: {
      async start(type: string, options: Record<string, unknown> & { workflowId: string; memo: object }) {
        starts.push({ type, options });
        let run = runs.get(options.workflowId);
        if (run?.closed) throw new WorkflowExecutionAlreadyStartedError('already started', options.workflowId, type);
        if (!run) {
          run = { runId: `run-${runs.size + 1}`, memo: { ...options.memo }, closed: false, options };
          runs.set(options.workflowId, run);
        }
        return { workflowId: options.workflowId, firstExecutionRunId: run.runId };
      },
      getHandle(workflowId: string, runId?: string) {
        return {
          async describe() {
            const run = runs.get(workflowId)!;
            if (runId) expect(runId).toBe(run.runId);
            return { runId: run.runId, memo: run.memo, status: { name: run.closed ? 'COMPLETED' : 'RUNNING' } };
          },
        };
      },
    },
  };
  return { client: client as unknown as Client, runs, starts };
}

describe('startFleetUpgrade', () => {
  it('starts fleet/<releaseId> once, with policies, metadata and search attributes', async () => {
    const { client, starts } = fakeService();
    const result = await startFleetUpgrade(client, { taskQueue: 'nightshift', release, requestedBy: 'test' });
    expect(result).toEqual({ workflowId: 'fleet/lts-5.8.2', runId: 'run-1', result: 'started' });
    expect(starts).toHaveLength(1);
    const { type, options } = starts[0]!;
    expect(type).toBe('fleetRollout');
    expect(options).toMatchObject({
      workflowId: 'fleet/lts-5.8.2',
      taskQueue: 'nightshift',
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      staticSummary: 'Roll out 5.8.2 LTS to the fleet',
      memo: { requestedBy: 'test', [START_TOKEN_MEMO]: expect.any(String), release },
      typedSearchAttributes: [
        { key: ReleaseId, value: 'lts-5.8.2' },
        { key: TargetVersion, value: '5.8.2' },
        { key: UpgradeStage, value: 'listing-canary' },
      ],
    });
    expect(options.args).toEqual([{ release, rollout: fleetInput(release).rollout }]);
    expect(options.staticDetails).toContain('Release notes: https://tyk.io/docs/release-notes');
  });

  it('reports a second delivery while the rollout runs as already-running, and after it closed as already-finished', async () => {
    const { client, runs } = fakeService();
    await startFleetUpgrade(client, { taskQueue: 'nightshift', release });
    expect(await startFleetUpgrade(client, { taskQueue: 'nightshift', release })).toEqual({
      workflowId: 'fleet/lts-5.8.2',
      runId: 'run-1',
      result: 'already-running',
      status: 'RUNNING',
    });
    runs.get('fleet/lts-5.8.2')!.closed = true;
    expect(await startFleetUpgrade(client, { taskQueue: 'nightshift', release })).toEqual({
      workflowId: 'fleet/lts-5.8.2',
      runId: 'run-1',
      result: 'already-finished',
      status: 'COMPLETED',
    });
    expect(runs.size).toBe(1);
  });

  it('resolves the rollout: an explicit one over the release’s own, which travels only as `rollout`', () => {
    const withOwn: Release = { ...release, rollout: fleetInput(release, { bakeMinutes: 5 }).rollout };
    expect(fleetInput(withOwn).rollout.bakeMinutes).toBe(5);
    expect(fleetInput(withOwn).release).not.toHaveProperty('rollout');
    expect(fleetInput(withOwn, { maxConcurrent: 2 }).rollout).toMatchObject({ bakeMinutes: 60, maxConcurrent: 2 });
    expect(fleetInput(release).rollout.canary.labels).toEqual(['canary']);
    expect(() => fleetInput(release, { maxConcurrent: 0 })).toThrow(/rollout is invalid:\n {2}- maxConcurrent = 0/);
  });

  it('describes the release and the rollout policy in the workflow details', () => {
    const security: Release = { ...release, id: 'sec-5.3.9', kind: 'security', affected: '>=5.3.0 <5.3.9' };
    const { rollout } = fleetInput(security, { canary: { tiers: ['staging'] }, failureBudget: { maxRatio: 0.25 } });
    const details = fleetDetails(security, rollout);
    expect(details).toContain('**Release** `sec-5.3.9` (security)');
    expect(details).toContain('- Affected versions: `>=5.3.0 <5.3.9`');
    expect(details).toContain('- Canary wave: labels —; tiers `staging`; control planes —');
    expect(details).toContain('more than 25% once 20 have finished');
  });
});
