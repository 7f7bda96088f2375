// A stand-in for the kubelet in the real-cluster test environment (test/helpers/realKube.ts). No scheduler and no
// kubelet run there, so pods never leave Pending by themselves; this poller plays the kubelet's part for status only:
// it marks every pod Running and Ready, except pods using an image in `brokenImages`, which it reports as stuck
// pulling the image (Pending, Ready=False). The Deployment controller then sees those ReplicaSets make no progress,
// and a short spec.progressDeadlineSeconds ends in Progressing=False / ProgressDeadlineExceeded.
//
// Pods have no spec.nodeName, so the apiserver deletes them at once when a ReplicaSet scales down (no graceful
// termination) — which is what lets rollouts complete without a kubelet confirming the deletion.
import { clearTimeout, setTimeout } from 'node:timers';
import type { KubeResponse } from './realKube';

/** Just what the fake kubelet needs to talk to the apiserver (realKube.ts provides it). */
export interface KubeletClient {
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeResponse>;
}

interface Container {
  name: string;
  image?: string;
}

interface Pod {
  metadata: { name: string; uid?: string; deletionTimestamp?: string; creationTimestamp?: string };
  spec: { containers: Container[]; initContainers?: Container[] };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string }[];
  };
}

export interface FakeKubelet {
  /** Resolves after the next full pass over the pods (handy in tests that flip `brokenImages`). */
  sync(): Promise<void>;
  stop(): Promise<void>;
}

function isReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function desiredStatus(pod: Pod, broken: boolean, now: string): Record<string, unknown> {
  const ready = broken ? 'False' : 'True';
  const notReadyReason = broken ? { reason: 'ContainersNotReady', message: 'image cannot be pulled' } : {};
  return {
    phase: broken ? 'Pending' : 'Running',
    startTime: pod.metadata.creationTimestamp ?? now,
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
      { type: 'Initialized', status: 'True', lastTransitionTime: now },
      { type: 'ContainersReady', status: ready, lastTransitionTime: now, ...notReadyReason },
      { type: 'Ready', status: ready, lastTransitionTime: now, ...notReadyReason },
    ],
    containerStatuses: pod.spec.containers.map((c) => ({
      name: c.name,
      image: c.image ?? '',
      imageID: '',
      ready: !broken,
      started: !broken,
      restartCount: 0,
      state: broken
        ? { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` } }
        : { running: { startedAt: now } },
    })),
  };
}

/**
 * Starts polling the pods of `namespace` every `intervalMs` and patching their status. `brokenImages` is read on
 * every pass, so a test may change it at any time. A pod already marked is not patched again unless its
 * brokenness changed.
 */
export function startFakeKubelet(
  client: KubeletClient,
  namespace: string,
  brokenImages: Set<string>,
  { intervalMs = 250, onError = (err: unknown) => console.warn(`[fakeKubelet] ${String(err)}`) } = {},
): FakeKubelet {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  let waiters: (() => void)[] = [];
  let lastError = '';

  async function pass(): Promise<void> {
    const list = await client.request('GET', `/api/v1/namespaces/${namespace}/pods`);
    if (list.status !== 200) throw new Error(`listing pods: HTTP ${list.status} ${JSON.stringify(list.body)}`);
    const now = new Date().toISOString();
    for (const pod of (list.body.items ?? []) as Pod[]) {
      if (stopped) return;
      if (pod.metadata.deletionTimestamp) continue;
      const broken = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].some(
        (c) => c.image !== undefined && brokenImages.has(c.image),
      );
      const wantPhase = broken ? 'Pending' : 'Running';
      const marked = pod.status?.conditions?.some((c) => c.type === 'ContainersReady') ?? false;
      if (marked && pod.status?.phase === wantPhase && isReady(pod) === !broken) continue;
      const res = await client.request(
        'PATCH',
        `/api/v1/namespaces/${namespace}/pods/${pod.metadata.name}/status`,
        { metadata: { uid: pod.metadata.uid }, status: desiredStatus(pod, broken, now) },
        'application/merge-patch+json',
      );
      // 404: deleted meanwhile; 409: uid precondition failed (replaced by a pod of the same name). Both are fine.
      if (res.status >= 300 && res.status !== 404 && res.status !== 409) {
        throw new Error(`patching pod ${pod.metadata.name} status: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
  }

  function loop(): void {
    if (stopped) return;
    running = pass()
      .then(
        () => {
          lastError = '';
        },
        (err: unknown) => {
          const msg = String(err);
          if (!stopped && msg !== lastError) onError(err); // report each distinct error once
          lastError = msg;
        },
      )
      .finally(() => {
        const done = waiters;
        waiters = [];
        done.forEach((resolve) => resolve());
        if (!stopped) timer = setTimeout(loop, intervalMs).unref(); // never what keeps a test process alive
      });
  }
  loop();

  return {
    sync: () =>
      new Promise<void>((resolve) => {
        // wait for the pass after the one in flight, so that it sees the current state
        let seen = 0;
        const onPass = (): void => {
          seen += 1;
          if (seen >= 2 || stopped) resolve();
          else waiters.push(onPass);
        };
        waiters.push(onPass);
      }),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      waiters.forEach((resolve) => resolve());
      waiters = [];
    },
  };
}
