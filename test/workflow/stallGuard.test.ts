// The stall guard (test/helpers/stallGuard.ts) against a real time-skipping server: a test that fails while the
// server answers is not run again, and says where things stood; a server that really stops answering (here: frozen
// with SIGSTOP) is proven stalled and the test runs once more on a fresh server.
import { execFileSync } from 'node:child_process';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { runGuarded, serverAnswers } from '../helpers/stallGuard';
import { timeSkippingEnv } from '../helpers/temporalServers';

let env: TestWorkflowEnvironment;
const stopped: number[] = [];

/** The time-skipping server processes this test process started. */
function serverPids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes('temporal-test-server'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

beforeEach(async () => {
  env = await timeSkippingEnv();
});

afterEach(async () => {
  for (const pid of stopped.splice(0)) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
  await env.teardown();
});

it('does not run a failing test again while the server answers, and reports the diagnosis', async () => {
  let runs = 0;
  let fresh = 0;
  const failing = runGuarded(
    {
      env: () => env,
      budgetMs: 20_000,
      freshServer: async () => void fresh++,
      diagnose: async () => 'fleet fleet/x: stage main',
    },
    async () => {
      runs++;
      throw new Error('expected 3 completed, got 2');
    },
  );
  await expect(failing).rejects.toThrow(
    /expected 3 completed, got 2\n\nattempt 1; the server still answers, so this is not a server stall\nfleet fleet\/x: stage main/,
  );
  expect({ runs, fresh }).toEqual({ runs: 1, fresh: 0 });
});

it('gives a hung test up after its budget and runs it once more only when the server is proven stalled', async () => {
  const before = serverPids();
  expect(before.length).toBeGreaterThanOrEqual(1);
  expect((await serverAnswers(env)).answers).toBe(true);
  const attempts: string[] = [];
  await runGuarded(
    {
      env: () => env,
      budgetMs: 8_000,
      freshServer: async () => {
        for (const pid of stopped.splice(0)) process.kill(pid, 'SIGKILL');
        await env.teardown().catch(() => undefined);
        env = await timeSkippingEnv();
      },
      diagnose: async () => '(none)',
    },
    async () => {
      if (attempts.length === 0) {
        attempts.push('frozen');
        for (const pid of before) {
          process.kill(pid, 'SIGSTOP');
          stopped.push(pid);
        }
        await env.currentTimeMs(); // hangs: the server is frozen
        throw new Error('the frozen server answered');
      }
      attempts.push(`answered at ${await env.currentTimeMs()}`);
    },
  );
  expect(attempts).toHaveLength(2);
  expect(attempts[1]).toMatch(/^answered at \d+$/);
}, 60_000);
