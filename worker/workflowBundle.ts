// Which workflow code a worker loads. `npm run build` writes a prebuilt bundle next to the compiled code
// (dist/workflow-bundle.js, scripts/buildWorkflowBundle.ts); a worker started from dist/ loads it and runs no webpack
// at start-up. Run from the TypeScript sources (tsx, tests) there is no bundle beside the code, so the worker bundles
// workflowsPath itself, as before.
import fs from 'node:fs';
import path from 'node:path';
import { Runtime, type BundleOptions, type Logger, type WorkerOptions } from '@temporalio/worker';

export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';

/**
 * Libraries the workflow code imports that keep no per-workflow state, loaded once per workflow thread and shared by
 * every cached workflow (the SDK's `preloadModules`). Otherwise each cached workflow evaluates its own copy: with
 * semver shared, the control planes' workflow thread used 119 MiB instead of 148 for a cache of 600 (docs/scale.md).
 * Only modules whose top level calls no workflow API and whose state, if any, is a cache of pure results.
 */
export const SHARED_WORKFLOW_MODULES: readonly string[] = ['semver'];

/**
 * nightshift's own modules of the workflow code that qualify the same way, relative to the workflows folder: pure
 * functions, constants and message definitions (defineSignal/defineQuery only build names). The SDK deep-freezes what
 * they export, so none may be mutated by a workflow; their Maps (versions.ts's parse cache) stay writable.
 * messages.ts brings operatorRequests.ts along (it imports it): no module state, and the workflow API it calls
 * (setHandler, log) finds the current workflow when called. metrics.ts is left per workflow.
 */
export const SHARED_WORKFLOW_SOURCES: readonly string[] = [
  '../domain/model',
  '../domain/policy',
  '../domain/versions',
  './markdown',
  './messages',
  './searchAttributes',
];

/** The options every workflow bundle of nightshift is made with (build, worker from the sources, tests, replay). */
export function workflowBundleOptions(workflowsPath: string, logger: Logger): BundleOptions {
  const folder = fs.statSync(workflowsPath).isDirectory() ? workflowsPath : path.dirname(workflowsPath);
  const own = SHARED_WORKFLOW_SOURCES.map((m) => path.resolve(folder, m));
  return { workflowsPath, logger, preloadModules: [...SHARED_WORKFLOW_MODULES, ...own] };
}

/** Where `npm run build` puts the bundle for the code this module was compiled into: dist/workflow-bundle.js. */
export function prebuiltBundlePath(): string {
  return path.resolve(__dirname, '..', WORKFLOW_BUNDLE_FILE);
}

export interface WorkflowCodeChoice {
  options: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'>;
  /** One line for the log: which code the worker runs, and from where. */
  description: string;
}

/** The prebuilt bundle when there is one at `bundlePath`, else `workflowsPath`, bundled when the worker is created. */
export function chooseWorkflowCode(workflowsPath: string, bundlePath = prebuiltBundlePath()): WorkflowCodeChoice {
  if (fs.existsSync(bundlePath))
    return {
      options: { workflowBundle: { codePath: bundlePath } },
      description: `workflow code: prebuilt bundle ${bundlePath}`,
    };
  return {
    options: { workflowsPath },
    description: `workflow code: bundling ${workflowsPath} at start-up (no prebuilt bundle at ${bundlePath})`,
  };
}

/** chooseWorkflowCode, logged through the SDK's runtime logger (INFO: shown by a worker process, hidden in tests). */
export function workflowCodeOptions(workflowsPath: string): WorkflowCodeChoice['options'] {
  const choice = chooseWorkflowCode(workflowsPath);
  // Compiled code without its bundle: a build that skipped the bundle step; it works, but bundles at every start.
  const level = 'workflowsPath' in choice.options && __filename.endsWith('.js') ? 'warn' : 'info';
  Runtime.instance().logger[level](choice.description);
  return choice.options;
}
