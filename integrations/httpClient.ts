// Small helpers shared by the HTTP adapters.

/** A timeout signal, and the signal to pass to fetch: the timeout combined with the caller's signal, if any. */
export function withTimeout(timeoutMs: number, signal?: AbortSignal): { timeout: AbortSignal; combined: AbortSignal } {
  const timeout = AbortSignal.timeout(timeoutMs);
  return { timeout, combined: signal ? AbortSignal.any([signal, timeout]) : timeout };
}

/** `failed: ECONNREFUSED` rather than fetch's bare "fetch failed". */
export function describeFetchError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return `failed: ${cause ?? e.message}`;
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts (an activity being cancelled). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The delay an HTTP `Retry-After` asks for, in ms: delta-seconds or an HTTP date (past dates: 0); else undefined. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
