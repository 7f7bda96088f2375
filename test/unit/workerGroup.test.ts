// The worker process's two Temporal workers (control planes, fleet rollouts) run, stop and report health as one.
import type { State, Worker } from '@temporalio/worker';
import { WorkerGroup } from '../../worker/worker';

/** Just what WorkerGroup uses of a Worker: run, shutdown, getState. */
class StubWorker {
  state: State = 'INITIALIZED';
  private stop!: (err?: Error) => void;
  run(): Promise<void> {
    this.state = 'RUNNING';
    return new Promise<void>((resolve, reject) => {
      this.stop = (err) => {
        this.state = err ? 'FAILED' : 'STOPPED';
        if (err) reject(err);
        else resolve();
      };
    });
  }
  shutdown(): void {
    if (this.state !== 'RUNNING') throw new Error(`shutdown in state ${this.state}`);
    this.stop();
  }
  fail(err: Error): void {
    this.stop(err);
  }
  getState(): State {
    return this.state;
  }
}

const group = (...w: StubWorker[]) => new WorkerGroup(w as unknown as Worker[]);

it('runs until every worker has shut down, and is RUNNING only while all are', async () => {
  const [main, fleet] = [new StubWorker(), new StubWorker()];
  const g = group(main, fleet);
  expect(g.getState()).toBe('INITIALIZED');
  const running = g.run();
  expect(g.getState()).toBe('RUNNING');
  g.shutdown();
  await expect(running).resolves.toBeUndefined();
  expect([main.state, fleet.state, g.getState()]).toEqual(['STOPPED', 'STOPPED', 'STOPPED']);
  expect(() => g.shutdown()).not.toThrow(); // a second SIGTERM is harmless
});

it('shuts the other worker down when one fails, and throws that error', async () => {
  const [main, fleet] = [new StubWorker(), new StubWorker()];
  const g = group(main, fleet);
  const running = g.run();
  fleet.fail(new Error('fleet worker: poller failed'));
  await expect(running).rejects.toThrow('fleet worker: poller failed');
  expect(main.state).toBe('STOPPED');
  expect(g.getState()).toBe('FAILED');
});
