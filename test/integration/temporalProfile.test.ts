// A real connection resolved from a temporal.toml profile alone (no TEMPORAL_ADDRESS, no TEMPORAL_NAMESPACE): the
// operator client and the worker's connection both reach the dev server and the profile's namespace.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { msToTs } from '@temporalio/common/lib/time';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { loadConfig } from '../../config/config';
import { connectClient } from '../../client/temporalClient';
import { connectWorker } from '../../worker/worker';
import { devServerEnv } from '../helpers/temporalServers';

const NAMESPACE = 'from-profile';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nightshift-profile-'));
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  env = await devServerEnv();
  await env.connection.workflowService.registerNamespace({
    namespace: NAMESPACE,
    workflowExecutionRetentionPeriod: msToTs('1 day'),
  });
});

afterAll(async () => {
  await env?.teardown();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('connects the client and the worker through a temporal.toml profile only', async () => {
  const toml = path.join(dir, 'temporal.toml');
  fs.writeFileSync(
    toml,
    `[profile.default]\naddress = "127.0.0.1:1"\n\n[profile.local]\naddress = "${env.address}"\nnamespace = "${NAMESPACE}"\n`,
  );
  const config = loadConfig({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'local' });
  expect(config).toMatchObject({ TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: NAMESPACE });

  const { client, close } = await connectClient(config);
  try {
    const ns = await client.workflowService.describeNamespace({ namespace: client.options.namespace });
    expect(ns.namespaceInfo?.name).toBe(NAMESPACE);
  } finally {
    await close();
  }
  const connection = await connectWorker(config);
  try {
    const ns = await connection.workflowService.describeNamespace({ namespace: config.TEMPORAL_NAMESPACE });
    expect(ns.namespaceInfo?.name).toBe(NAMESPACE);
  } finally {
    await connection.close();
  }

  // The "default" profile of the same file points nowhere: the profile name is what chose the server.
  const other = loadConfig({ TEMPORAL_CONFIG_FILE: toml });
  expect(other.TEMPORAL_ADDRESS).toBe('127.0.0.1:1');
  await expect(connectClient(other)).rejects.toThrow('cannot reach Temporal at 127.0.0.1:1');
});
