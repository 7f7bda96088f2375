// TEST FIXTURE for test/integration/workerHealth.test.ts: a workflow whose one activity runs until the test lets it
// finish, so the worker has something in flight while it shuts down.
import { proxyActivities } from '@temporalio/workflow';

export interface HoldActivities {
  hold(): Promise<string>;
}

const { hold } = proxyActivities<HoldActivities>({ startToCloseTimeout: '1 minute', heartbeatTimeout: '10 seconds' });

export async function holdOneActivity(): Promise<string> {
  return await hold();
}
