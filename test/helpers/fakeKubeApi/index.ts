// A wire-contract fake of the kube-apiserver, for the adapter suite when no real one is available (see kubeEnv.ts).
// Plain HTTP on 127.0.0.1. It speaks the same URLs, content types, status codes and V1Status bodies as the real one
// for what nightshift uses, and simulates the deployment controller:
//
//   /api/v1/namespaces                                   POST (admin: create a namespace)
//   /api/v1/namespaces/{ns}/configmaps[/{name}]          GET, list, POST, PUT, PATCH
//   /apis/apps/v1/namespaces/{ns}/deployments[/{name}]   GET, list, POST, PUT, PATCH (json-patch, merge-patch,
//                                                        strategic-merge-patch; anything else 415)
//   /apis/apps/v1/namespaces/{ns}/replicasets[/{name}]   GET, list (labelSelector); written by the controller only
//
// Authentication is by bearer token (401 without); authorization follows the Role and RoleBinding in
// deploy/kubernetes/rbac.yaml for workerToken, everything for adminToken, nothing for noRightsToken. The
// controller ticks every tickMs: it observes new generations, creates (or, for a template seen before, reuses) a
// ReplicaSet with the next revision, and rolls pods over under maxSurge/maxUnavailable. A pod is Ready podReadyMs
// after it is created unless its image is in brokenImages, and available minReadySeconds later; a rollout without
// progress for progressDeadlineSeconds gets Progressing=False/ProgressDeadlineExceeded, as the real controller does.
//
// Not reproduced: defaulting of pod specs, field validation beyond the selector and containers, server-side apply,
// watches, managedFields, finalizers and deletion, pods as objects, admission, API discovery, and the exact
// rolling-update arithmetic of the real controller (the sequence of counts differs; the end states match).
//
// router.ts: routes, authentication, faults, the verbs; rbac.ts: rights from the manifest; patch.ts: the patch
// formats; controller.ts: the deployment controller; objects.ts: the stored objects and the store they share.
export {
  startFakeKubeApi,
  type FakeKubeApi,
  type FakeKubeApiOptions,
  type FakeKubeFault,
  type FakeKubeRequest,
} from './router';
export { jsonPatch, mergePatch, strategicMergePatch } from './patch';
