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
