import { checkHeapForCache, heapNeededMiB } from '../../worker/heapBudget';

const MIB = 1024 * 1024;

describe('heap budget for the workflow cache', () => {
  it('estimates the control planes thread from the cache size', () => {
    expect(heapNeededMiB(300)).toBe(92);
    expect(heapNeededMiB(600)).toBe(152);
  });
  it('lets the default cache start under a 384 MiB heap cap, and the 600 measured under 192', () => {
    expect(() => checkHeapForCache(300, 384 * MIB)).not.toThrow();
    expect(() => checkHeapForCache(600, 192 * MIB)).not.toThrow();
  });
  it('refuses a cache the heap cannot hold, naming the setting, its value and the limit', () => {
    expect(() => checkHeapForCache(2000, 384 * MIB)).toThrow(
      "configuration: NIGHTSHIFT_WORKFLOW_CACHE_SIZE = 2000 needs about 432 MiB of V8 heap in the control planes' workflow thread (0.2 MiB for each cached workflow), more than this process's heap limit of 384 MiB",
    );
  });
});
