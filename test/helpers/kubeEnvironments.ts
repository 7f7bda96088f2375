// The Kubernetes environments a suite runs against: always the wire-contract fake; the real kube-apiserver when
// scripts/setupKube.js has built it. NIGHTSHIFT_REAL_KUBE=required turns its absence into a failing case, =off skips it.
import { startFakeKubeApi } from './fakeKubeApi';
import type { KubeEnv } from './kubeEnv';
import { realKubeAvailability, realKubeMode, startRealKube } from './realKube';

export interface KubeEnvCase {
  name: string;
  kind: KubeEnv['kind'];
  start: () => Promise<KubeEnv>;
}

export function kubeEnvironments(suite: string): KubeEnvCase[] {
  const cases: KubeEnvCase[] = [{ name: 'fake API server', kind: 'fake', start: () => startFakeKubeApi() }];
  const real = realKubeAvailability();
  if (real.available) {
    cases.push({ name: 'real kube-apiserver', kind: 'real', start: () => startRealKube() });
  } else if (realKubeMode() === 'required') {
    cases.push({
      name: 'real kube-apiserver (required)',
      kind: 'real',
      start: () => Promise.reject(new Error(`NIGHTSHIFT_REAL_KUBE=required, but ${real.why}`)),
    });
  } else {
    console.info(`[${suite}] real Kubernetes environment skipped: ${real.why}`);
  }
  return cases;
}
