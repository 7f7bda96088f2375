// Tests against the Java time-skipping server without blanket retries. The server has a known failure: it can stop
// answering for good (every later call hangs), which looks exactly like a workflow that hangs. A guarded test runs
// with a real-time budget; when it fails, the server is probed with two cheap calls. Only if the server does not answer
// them (a proven stall) does the test run once more, on a fresh server; any other failure is reported at once, with
// the state of the workflows the test drove, so a hung fleet is never retried into a pass.
import { AsyncLocalStorage } from 'node:async_hooks';
import { setMaxListeners } from 'node:events';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

/** How long the probe waits for the server before calling it stalled. */
const PROBE_MS = 5_000;

const attemptSignal = new AsyncLocalStorage<AbortSignal>();

/**
 * Throws once the guarded attempt this code runs in has been given up: polling loops call it so that an abandoned
 * attempt stops instead of acting on the fresh server of the next one.
 */
export function throwIfAttemptAbandoned(): void {
  attemptSignal.getStore()?.throwIfAborted();
}

/** Does the server still answer? (A stalled time-skipping server hangs on every call, these included.) */
export async function serverAnswers(env: TestWorkflowEnvironment): Promise<{ answers: boolean; detail: string }> {
  const deadline = Date.now() + PROBE_MS;
  try {
    await env.client.withDeadline(deadline, () => env.connection.workflowService.getSystemInfo({}));
    await env.client.withDeadline(deadline, () => env.currentTimeMs());
    return { answers: true, detail: 'answered getSystemInfo and getCurrentTime' };
  } catch (err) {
    return { answers: false, detail: `no answer within ${PROBE_MS / 1000}s: ${(err as Error).message}` };
  }
}

export interface StallGuardOptions {
  /** The current environment (it changes when a stalled one is replaced). */
  env(): TestWorkflowEnvironment;
  /** Tears the stalled environment down and builds a fresh one, with the fixtures put back. */
  freshServer(): Promise<void>;
  /** Where the workflows the test drove stand, for the failure message (bounded: the server may not answer). */
  diagnose(): Promise<string>;
  /** Real time one attempt may take before it is given up. */
  budgetMs: number;
}

/**
 * Runs `body` at most twice: a second time only if the first failed *and* the server is proven stalled. Every call to
 * Temporal the body makes is cancelled when its attempt ends, so none is left retrying against a closed connection.
 */
export async function runGuarded(opts: StallGuardOptions, body: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const env = opts.env();
    const abort = new AbortController();
    setMaxListeners(0, abort.signal); // every call in flight listens to it
    const budget = setTimeout(
      () => abort.abort(new Error(`gave up after ${opts.budgetMs / 1000}s of real time`)),
      opts.budgetMs,
    );
    const gaveUp = new Promise<never>((_, reject) =>
      abort.signal.addEventListener('abort', () => reject(abort.signal.reason as Error), { once: true }),
    );
    gaveUp.catch(() => undefined);
    const run = attemptSignal.run(abort.signal, () => env.client.withAbortSignal(abort.signal, body));
    run.catch(() => undefined);
    let failure: Error;
    try {
      await Promise.race([run, gaveUp]);
      return;
    } catch (err) {
      failure = err as Error;
    } finally {
      clearTimeout(budget);
    }
    // The probe runs before the attempt's calls are cancelled, while anything it left pending is still pending.
    const probe = await serverAnswers(env);
    abort.abort(new Error('attempt ended'));
    if (probe.answers || attempt > 1) {
      const where = await opts.diagnose().catch((e: Error) => `(could not diagnose: ${e.message})`);
      const stall = probe.answers ? 'the server still answers, so this is not a server stall' : probe.detail;
      failure.message = `${failure.message}\n\nattempt ${attempt}; ${stall}\n${where}`;
      throw failure;
    }
    console.warn(
      `time-skipping server stall proven (${probe.detail}); running the test once more on a fresh server. ` +
        `First failure: ${failure.message}`,
    );
    await opts.freshServer();
  }
}

/** `read()` with a real-time deadline on its calls to Temporal. */
export function bounded<T>(env: TestWorkflowEnvironment, ms: number, read: () => Promise<T>): Promise<T> {
  return env.client.withDeadline(Date.now() + ms, read);
}
