// The deployment controller of the fake kube-apiserver. Every tick it observes new generations, creates (or, for a
// template seen before, reuses) a ReplicaSet with the next revision, and rolls pods over under
// maxSurge/maxUnavailable. A pod is Ready podReadyMs after it is created unless its image is broken, and available
// minReadySeconds later; a rollout without progress for progressDeadlineSeconds gets
// Progressing=False/ProgressDeadlineExceeded, as the real controller does.
import { createHash, randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import {
  clone,
  isObject,
  REVISION,
  type Condition,
  type Deployment,
  type ObjectStore,
  type PodTemplate,
  type ReplicaSet,
  type StoredObject,
} from './objects';

/** A simulated pod of a ReplicaSet: no object, just its clock. */
interface Pod {
  createdAt: number;
  readyAt?: number;
}

export class DeploymentController {
  private readonly pods = new Map<string, Pod[]>();

  constructor(
    private readonly store: ObjectStore,
    private readonly podReadyMs: number,
    /** Images whose pods never become Ready (read on every tick). */
    private readonly brokenImages: () => ReadonlySet<string>,
  ) {}

  /** One pass over every Deployment. */
  tick(): void {
    const now = Date.now();
    for (const [key, obj] of this.store.objects) {
      if (!key.startsWith('deployments/')) continue;
      const d = obj as unknown as Deployment;
      const next = clone(d);
      this.syncDeployment(next, now);
      if (!isDeepStrictEqual(next, d)) {
        next.metadata.resourceVersion = this.store.nextResourceVersion();
        this.store.objects.set(key, next as unknown as StoredObject);
      }
    }
  }

  private ownedReplicaSets(d: Deployment): ReplicaSet[] {
    return [...this.store.objects.entries()]
      .filter(([k]) => k.startsWith(`replicasets/${d.metadata.namespace}/`))
      .map(([, o]) => o as unknown as ReplicaSet)
      .filter((rs) => rs.metadata.ownerReferences?.some((o) => o.controller && o.uid === d.metadata.uid));
  }

  private syncDeployment(d: Deployment, now: number): void {
    const hash = templateHash(d.spec.template);
    const owned = this.ownedReplicaSets(d);
    const revisionOf = (rs: ReplicaSet) => Number(rs.metadata.annotations?.[REVISION] ?? 0);
    const maxRevision = Math.max(0, ...owned.map(revisionOf));
    let newRS = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
    let progressed = false;
    if (!newRS) {
      newRS = this.createReplicaSet(d, hash, maxRevision + 1);
      owned.push(newRS);
      progressed = true;
    } else if (revisionOf(newRS) < maxRevision) {
      // A template seen before (a rollback): its ReplicaSet becomes the newest revision again.
      newRS.metadata.annotations = { ...newRS.metadata.annotations, [REVISION]: String(maxRevision + 1) };
      progressed = true;
    }
    d.metadata.annotations = { ...d.metadata.annotations, [REVISION]: newRS.metadata.annotations![REVISION]! };
    const observedNow = d.status.observedGeneration !== d.metadata.generation;
    d.status.observedGeneration = d.metadata.generation;
    if (observedNow) progressed = true;

    const before = { ...d.status };
    if (!d.spec.paused)
      this.rollPods(
        d,
        newRS,
        owned.filter((rs) => rs !== newRS),
        now,
      );
    for (const rs of owned) this.syncReplicaSet(rs, now);
    this.pruneHistory(d, owned, newRS);

    const all = owned.flatMap((rs) => this.podsOf(rs));
    const minReadyMs = (d.spec.minReadySeconds ?? 0) * 1000;
    const available = all.filter((p) => p.readyAt !== undefined && now - p.readyAt >= minReadyMs).length;
    const ready = all.filter((p) => p.readyAt !== undefined).length;
    const updated = this.podsOf(newRS).length;
    d.status = {
      ...d.status,
      replicas: all.length,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: available,
      unavailableReplicas: Math.max(0, all.length - available),
    };
    for (const field of ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas'] as const) {
      if (d.status[field] === 0) delete d.status[field];
    }
    if (
      updated > (before.updatedReplicas ?? 0) ||
      ready > (before.readyReplicas ?? 0) ||
      available > (before.availableReplicas ?? 0) ||
      all.length - updated < (before.replicas ?? 0) - (before.updatedReplicas ?? 0)
    ) {
      progressed = true;
    }
    this.setConditions(d, newRS, { available, updated, total: all.length, progressed }, now);
  }

  private createReplicaSet(d: Deployment, hash: string, revision: number): ReplicaSet {
    const name = `${d.metadata.name}-${hash}`;
    const template = clone(d.spec.template);
    template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, 'pod-template-hash': hash } };
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name,
        namespace: d.metadata.namespace,
        uid: randomUUID(),
        resourceVersion: this.store.nextResourceVersion(),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        generation: 1,
        labels: { ...template.metadata.labels },
        annotations: { [REVISION]: String(revision) },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid, controller: true },
        ],
      },
      spec: {
        replicas: 0,
        ...(d.spec.minReadySeconds !== undefined ? { minReadySeconds: d.spec.minReadySeconds } : {}),
        selector: { matchLabels: { ...d.spec.selector.matchLabels, 'pod-template-hash': hash } },
        template,
      },
      status: { replicas: 0, fullyLabeledReplicas: 0, readyReplicas: 0, availableReplicas: 0, observedGeneration: 1 },
    };
    this.store.objects.set(this.store.key('replicasets', d.metadata.namespace, name), rs as unknown as StoredObject);
    return rs;
  }

  private podsOf(rs: ReplicaSet): Pod[] {
    let pods = this.pods.get(rs.metadata.uid);
    if (!pods) this.pods.set(rs.metadata.uid, (pods = []));
    return pods;
  }

  /** One step of a rolling update (or a recreate): scale the new ReplicaSet up and the old ones down. */
  private rollPods(d: Deployment, newRS: ReplicaSet, old: ReplicaSet[], now: number): void {
    const desired = d.spec.replicas;
    const minReadyMs = (d.spec.minReadySeconds ?? 0) * 1000;
    const isAvailable = (p: Pod) => p.readyAt !== undefined && now - p.readyAt >= minReadyMs;
    const newPods = this.podsOf(newRS);
    const oldPods = old.map((rs) => this.podsOf(rs));
    const total = () => newPods.length + oldPods.reduce((n, p) => n + p.length, 0);

    if (d.spec.strategy.type === 'Recreate') {
      for (const pods of oldPods) pods.splice(0);
      while (newPods.length < desired) newPods.push({ createdAt: now });
    } else {
      const surge = resolveIntOrPercent(d.spec.strategy.rollingUpdate?.maxSurge ?? '25%', desired, true);
      let unavailable = resolveIntOrPercent(d.spec.strategy.rollingUpdate?.maxUnavailable ?? '25%', desired, false);
      if (surge === 0 && unavailable === 0) unavailable = 1;
      const room = Math.min(desired + surge - total(), desired - newPods.length);
      for (let i = 0; i < room; i += 1) newPods.push({ createdAt: now });
      // Old pods that are not available count for nothing: they go first and freely.
      for (const pods of oldPods) {
        for (let i = pods.length - 1; i >= 0; i -= 1) if (!isAvailable(pods[i]!)) pods.splice(i, 1);
      }
      const availableNow = newPods.filter(isAvailable).length + oldPods.reduce((n, p) => n + p.length, 0);
      let removable = Math.max(0, availableNow - (desired - unavailable));
      for (const pods of oldPods) {
        const take = Math.min(removable, pods.length);
        pods.splice(pods.length - take, take);
        removable -= take;
      }
    }
    // Surplus new pods (a scale-down): unready ones first.
    while (newPods.length > desired) {
      const unready = newPods.findIndex((p) => p.readyAt === undefined);
      newPods.splice(unready >= 0 ? unready : newPods.length - 1, 1);
    }
  }

  private syncReplicaSet(rs: ReplicaSet, now: number): void {
    const broken = (rs.spec.template.spec?.containers ?? []).some((c) => c.image && this.brokenImages().has(c.image));
    const pods = this.podsOf(rs);
    for (const pod of pods) {
      if (pod.readyAt === undefined && !broken && now - pod.createdAt >= this.podReadyMs) {
        pod.readyAt = pod.createdAt + this.podReadyMs;
      }
    }
    const minReadyMs = (rs.spec.minReadySeconds ?? 0) * 1000;
    const ready = pods.filter((p) => p.readyAt !== undefined);
    const status = {
      replicas: pods.length,
      fullyLabeledReplicas: pods.length,
      readyReplicas: ready.length,
      availableReplicas: ready.filter((p) => now - p.readyAt! >= minReadyMs).length,
      observedGeneration: rs.metadata.generation ?? 1,
    };
    if (rs.spec.replicas !== pods.length || !isDeepStrictEqual(rs.status, status)) {
      rs.spec.replicas = pods.length;
      rs.status = status;
      rs.metadata.resourceVersion = this.store.nextResourceVersion();
    }
  }

  /** Keeps revisionHistoryLimit scaled-down old ReplicaSets, like the real controller. */
  private pruneHistory(d: Deployment, owned: ReplicaSet[], newRS: ReplicaSet): void {
    const idle = owned
      .filter((rs) => rs !== newRS && this.podsOf(rs).length === 0)
      .sort((a, b) => Number(a.metadata.annotations?.[REVISION]) - Number(b.metadata.annotations?.[REVISION]));
    for (const rs of idle.slice(0, Math.max(0, idle.length - d.spec.revisionHistoryLimit))) {
      this.store.objects.delete(this.store.key('replicasets', rs.metadata.namespace, rs.metadata.name));
      this.pods.delete(rs.metadata.uid);
    }
  }

  private setConditions(
    d: Deployment,
    newRS: ReplicaSet,
    s: { available: number; updated: number; total: number; progressed: boolean },
    now: number,
  ): void {
    const desired = d.spec.replicas;
    const maxUnavailable = resolveIntOrPercent(d.spec.strategy.rollingUpdate?.maxUnavailable ?? '25%', desired, false);
    const conditions = d.status.conditions ?? [];
    const set = (type: string, status: 'True' | 'False', reason: string, message: string, touch: boolean) => {
      const at = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
      const old = conditions.find((c) => c.type === type);
      if (old && old.status === status && old.reason === reason && old.message === message && !touch) return;
      const next: Condition = {
        type,
        status,
        reason,
        message,
        lastUpdateTime: at,
        lastTransitionTime: old && old.status === status ? old.lastTransitionTime : at,
      };
      if (old) conditions.splice(conditions.indexOf(old), 1, next);
      else conditions.push(next);
    };
    if (s.available >= desired - maxUnavailable) {
      set('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.', false);
    } else {
      set('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.', false);
    }
    const rsName = newRS.metadata.name;
    const complete = s.updated === desired && s.total === desired && s.available === desired;
    const progressing = conditions.find((c) => c.type === 'Progressing');
    if (complete) {
      set(
        'Progressing',
        'True',
        'NewReplicaSetAvailable',
        `ReplicaSet "${rsName}" has successfully progressed.`,
        false,
      );
    } else if (s.progressed) {
      set('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`, true);
    } else if (
      progressing &&
      progressing.reason !== 'ProgressDeadlineExceeded' &&
      now - Date.parse(progressing.lastUpdateTime) > d.spec.progressDeadlineSeconds * 1000
    ) {
      set(
        'Progressing',
        'False',
        'ProgressDeadlineExceeded',
        `ReplicaSet "${rsName}" has timed out progressing.`,
        true,
      );
    }
    d.status.conditions = conditions;
  }
}

function resolveIntOrPercent(value: number | string, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  const percent = Number(value.replace(/%$/, ''));
  const exact = (percent * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

function templateHash(template: PodTemplate): string {
  const t = clone(template);
  if (t.metadata?.labels) delete t.metadata.labels['pod-template-hash'];
  return createHash('sha256').update(stableJson(t)).digest('hex').slice(0, 10);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
