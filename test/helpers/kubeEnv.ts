// What a Kubernetes test environment gives the adapter suite. Two implementations run the same suite: a real
// kube-apiserver + kube-controller-manager + etcd with a fake kubelet (test/helpers/realKube.ts), and a wire-contract
// fake of the apiserver (test/helpers/fakeKubeApi/).

export interface KubeEnv {
  /** 'real' or 'fake': shown in test names. */
  readonly kind: 'real' | 'fake';
  /** The apiserver's base URL, e.g. https://127.0.0.1:6443. */
  readonly server: string;
  /** A bearer token with cluster-admin rights (for setting up fixtures). */
  readonly adminToken: string;
  /** A bearer token bound only to the worker's RBAC manifest (deploy/kubernetes/rbac.yaml) in `namespace`. */
  readonly workerToken: string;
  /** A bearer token with no rights at all (403 on everything). */
  readonly noRightsToken: string;
  /** PEM of the CA that signed the server's certificate; undefined when the server is plain HTTP. */
  readonly caPem?: string;
  /** The namespace prepared for the test (exists, RBAC applied). */
  readonly namespace: string;
  /**
   * Pods whose container image equals one of these stay NotReady forever (the fake kubelet never marks them
   * Ready), so a Deployment with a short progressDeadlineSeconds reaches ProgressDeadlineExceeded.
   */
  brokenImages: Set<string>;
  close(): Promise<void>;
}
