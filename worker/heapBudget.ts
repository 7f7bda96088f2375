// Whether the V8 heap limit leaves room for the workflow cache. Each workflow thread is its own V8 isolate with the
// process's heap limit (NODE_OPTIONS=--max-old-space-size applies to every isolate), and the control planes' thread
// holds the whole cache: an isolate that reaches its limit stops the worker, under load, at 3 a.m. A worker whose cache
// cannot fit refuses to start instead, naming both settings.
import v8 from 'node:v8';

/** V8 heap per cached control-plane workflow: 0.18–0.19 MiB measured (docs/scale.md), rounded up. */
export const MIB_PER_CACHED_WORKFLOW = 0.2;
/** The workflow thread's own: the bundle, its source map, the SDK (about 20 MiB measured), and room to collect. */
export const WORKFLOW_THREAD_BASE_MIB = 32;

/** MiB of V8 heap the control planes' workflow thread needs for a cache of `cacheSize` workflows (an estimate). */
export function heapNeededMiB(cacheSize: number): number {
  return Math.ceil(WORKFLOW_THREAD_BASE_MIB + MIB_PER_CACHED_WORKFLOW * cacheSize);
}

/** Throws a one-line configuration error when a cache of `cacheSize` cannot fit under `heapLimitBytes`. */
export function checkHeapForCache(cacheSize: number, heapLimitBytes = v8.getHeapStatistics().heap_size_limit): void {
  const limitMiB = Math.floor(heapLimitBytes / 1024 / 1024);
  const needed = heapNeededMiB(cacheSize);
  if (needed <= limitMiB) return;
  throw new Error(
    `configuration: NIGHTSHIFT_WORKFLOW_CACHE_SIZE = ${cacheSize} needs about ${needed} MiB of V8 heap in the ` +
      `control planes' workflow thread (${MIB_PER_CACHED_WORKFLOW} MiB for each cached workflow), more than this ` +
      `process's heap limit of ${limitMiB} MiB (--max-old-space-size in NODE_OPTIONS): lower the cache or raise the ` +
      `limit (docs/scale.md)`,
  );
}
