import { DEFAULT_WORKFLOW_CACHE_SIZE } from '../../config/config';
import { parseDockerfile, parseEnvArgs, readDockerfile, runtimeEnv } from '../../scripts/dockerfile';
import { workerEnv } from '../../scripts/bench/fanout';
import { checkHeapForCache } from '../../worker/heapBudget';

const MIB = 1024 * 1024;

describe('the Dockerfile, read as the build test and the fan-out bench read it', () => {
  it('splits stages at FROM and joins continued lines', () => {
    const stages = parseDockerfile(
      ['FROM a AS build', 'RUN one \\', '    two', '# a comment', 'FROM b', 'ENV X=1 \\', '    Y=2'].join('\n'),
    );
    expect(stages.map((s) => s.map((i) => [i.keyword, i.args, i.line]))).toEqual([
      [
        ['FROM', 'a AS build', 1],
        ['RUN', 'one two', 2],
      ],
      [
        ['FROM', 'b', 5],
        ['ENV', 'X=1 Y=2', 6],
      ],
    ]);
  });

  it('reads ENV values, quoted ones with spaces and escaped quotes included', () => {
    expect(parseEnvArgs('A=1 B="two words" C= D="say \\"hi\\""', 3)).toEqual({
      A: '1',
      B: 'two words',
      C: '',
      D: 'say "hi"',
    });
  });

  it('names the line and the text of an ENV it cannot read', () => {
    expect(() => parseEnvArgs('A=1 LEGACY value', 7)).toThrow(
      'Dockerfile:7 ENV: expected NAME=value at "LEGACY value"',
    );
    expect(() => parseEnvArgs('B="unterminated', 8)).toThrow(
      'Dockerfile:8 ENV: expected NAME=value at "B="unterminated"',
    );
  });

  it('takes the runtime stage ENV only, later values winning', () => {
    const text = ['FROM a', 'ENV X=build', 'FROM b', 'ENV X=1 Y=2', 'ENV X=3'].join('\n');
    expect(runtimeEnv(text)).toEqual({ X: '3', Y: '2' });
  });
});

describe("the image's worker settings", () => {
  const image = runtimeEnv(readDockerfile());
  const cap = /--max-old-space-size=(\d+)/.exec(image.NODE_OPTIONS ?? '');

  it('caps the V8 heap, and the cap holds the default workflow cache', () => {
    expect(cap).not.toBeNull();
    expect(() => checkHeapForCache(DEFAULT_WORKFLOW_CACHE_SIZE, Number(cap![1]) * MIB)).not.toThrow();
    expect(image.MALLOC_ARENA_MAX).toBe('2');
  });

  it('are what the fan-out bench gives both worker processes, unless it is told otherwise', () => {
    const env = { PATH: '/bin', NODE_OPTIONS: '--import tsx', TEMPORAL_ADDRESS: 'x:1', NIGHTSHIFT_TIER: 'y' };
    expect(workerEnv(env, image)).toEqual({
      PATH: '/bin',
      NODE_OPTIONS: image.NODE_OPTIONS,
      MALLOC_ARENA_MAX: image.MALLOC_ARENA_MAX,
    });
    expect(workerEnv({ ...env, BENCH_WORKER_NODE_OPTIONS: '', MALLOC_ARENA_MAX: '8' }, image)).toEqual({
      PATH: '/bin',
      MALLOC_ARENA_MAX: '8',
    });
  });
});
