// Whether a Deployment's rollout has finished, decided the way `kubectl rollout status` decides it: the controller has
// observed the latest spec, every replica runs the new template, no old replica is left, and every updated replica is
// available (ready for minReadySeconds). Readiness alone is not enough. Pure: it reads the object and nothing else.

/** The parts of a V1Deployment the decision needs (a V1Deployment is assignable to it). */
export interface DeploymentLike {
  metadata?: { name?: string; generation?: number };
  spec?: { replicas?: number; paused?: boolean };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export interface RolloutCounts {
  generation: number;
  observedGeneration: number;
  /** spec.replicas, or undefined when the spec leaves it to the API server's default. */
  desired: number | undefined;
  replicas: number;
  updated: number;
  ready: number;
  available: number;
}

export type RolloutStatus =
  | { state: 'done'; message: string; counts: RolloutCounts }
  | { state: 'progressing'; message: string; counts: RolloutCounts }
  /** The controller gave up (ProgressDeadlineExceeded): waiting longer will not help. */
  | { state: 'failed'; reason: string; message: string; counts: RolloutCounts };

export function rolloutCounts(d: DeploymentLike): RolloutCounts {
  const st = d.status ?? {};
  return {
    generation: d.metadata?.generation ?? 0,
    observedGeneration: st.observedGeneration ?? 0,
    desired: d.spec?.replicas ?? undefined,
    replicas: st.replicas ?? 0,
    updated: st.updatedReplicas ?? 0,
    ready: st.readyReplicas ?? 0,
    available: st.availableReplicas ?? 0,
  };
}

export function rolloutStatus(d: DeploymentLike): RolloutStatus {
  const counts = rolloutCounts(d);
  const name = d.metadata?.name ?? 'deployment';
  const progressing = (message: string): RolloutStatus => ({ state: 'progressing', message, counts });

  // Until the controller has seen the latest spec, the counts below describe an older one.
  if (counts.generation > counts.observedGeneration) {
    return progressing(`waiting for the controller to observe generation ${counts.generation} of ${name}`);
  }
  const condition = d.status?.conditions?.find((c) => c.type === 'Progressing');
  if (condition?.reason === 'ProgressDeadlineExceeded') {
    const detail = condition.message ? `: ${condition.message}` : '';
    return {
      state: 'failed',
      reason: 'ProgressDeadlineExceeded',
      message: `${name} exceeded its progress deadline (ProgressDeadlineExceeded)${detail}`,
      counts,
    };
  }
  const { desired, replicas, updated, available } = counts;
  if (desired !== undefined && updated < desired) {
    return progressing(`${updated} of ${desired} replicas of ${name} updated`);
  }
  if (replicas > updated) {
    return progressing(`${replicas - updated} old replicas of ${name} pending termination`);
  }
  if (available < updated) {
    return progressing(`${available} of ${updated} updated replicas of ${name} available`);
  }
  return {
    state: 'done',
    message: `${name} rolled out: ${updated} of ${updated} replicas updated and available`,
    counts,
  };
}
