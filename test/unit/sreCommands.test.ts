import {
  ApplicationFailure,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import {
  CommandError,
  parseSreArgs,
  parseUntil,
  runSreCommand,
  UsageError,
  type SreCommand,
} from '../../workers/sreCommands';
import type { DeferResult, FleetStatus, UpgradeStatus } from '../../workflows/messages';
import { UpgradeStage, WindowOpensAt } from '../../workflows/searchAttributes';

const now = new Date('2026-11-24T12:00:00Z');
const parse = (...argv: string[]) => parseSreArgs(argv, { now, user: 'ada' });

describe('npm run sre: arguments', () => {
  it('parses control-plane and fleet targets; --by defaults to the OS user', () => {
    expect(parse('pause', 'cp-acme-eu', '--reason', 'incident 123')).toEqual({
      name: 'pause',
      target: { kind: 'control-plane', controlPlaneId: 'cp-acme-eu' },
      request: { reason: 'incident 123', by: 'ada' },
    });
    expect(parse('cancel', '--fleet', 'lts-5.8.2', '--by', 'jo')).toEqual({
      name: 'cancel',
      target: { kind: 'fleet', releaseId: 'lts-5.8.2' },
      request: { by: 'jo' },
    });
    expect(parse('status', 'cp-acme-eu', '--release', 'lts-5.8.2', '--json')).toEqual({
      name: 'status',
      target: { kind: 'control-plane', controlPlaneId: 'cp-acme-eu', releaseId: 'lts-5.8.2' },
      json: true,
    });
    expect(parse('defer', 'cp-acme-eu', '--days', '3')).toMatchObject({ request: { days: 3, by: 'ada' } });
    expect(parse('list', '--stage', 'waiting-for-window')).toEqual({
      name: 'list',
      stage: 'waiting-for-window',
      json: false,
    });
    expect(parse()).toEqual({ name: 'help' });
    expect(parse('pause', '--help')).toEqual({ name: 'help' });
  });

  it('takes --until as an ISO instant or a duration from now', () => {
    expect(parse('freeze', '--fleet', 'lts-5.8.2', '--until', '4h', '--reason', 'peak')).toMatchObject({
      request: { until: '2026-11-24T16:00:00.000Z', reason: 'peak', by: 'ada' },
    });
    expect(parseUntil('2d', now)).toBe('2026-11-26T12:00:00.000Z');
    expect(parseUntil('2026-11-25T08:00:00+01:00', now)).toBe('2026-11-25T07:00:00.000Z');
  });

  it.each([
    [['reboot', 'cp-1'], 'unknown command "reboot"'],
    [['pause'], 'pause: needs <control-plane> or --fleet <release-id>'],
    [['pause', 'cp-1', '--fleet', 'lts-5.8.2'], 'give either <control-plane> or --fleet'],
    [['pause', '--fleet', 'lts-5.8.2', '--release', 'x'], '--fleet already names the release'],
    [['pause', 'CP_1'], '<control-plane> = "CP_1": not a control plane id'],
    [['status', 'cp-1', '--release', "x' OR 'a'='a"], "--release = \"x' OR 'a'='a\": not a release id"],
    [['approve', 'cp-1'], 'approve: needs --fleet <release-id>, not a control plane'],
    [['defer', '--fleet', 'lts-5.8.2', '--days', '2'], 'defer: --fleet does not apply here'],
    [['defer', 'cp-1'], 'defer: --days is required'],
    [['defer', 'cp-1', '--days', 'two'], '--days = "two": not a whole number'],
    [['defer', 'cp-1', '--days', '0'], '--days = "0": defer by at least 1 day'],
    [['pause', 'cp-1', '--days', '2'], 'pause: --days does not apply here'],
    [['upgrade-now', 'cp-1'], 'upgrade-now: --reason is required'],
    [['upgrade-now', 'cp-1', '--reason', ' '], '--reason = " ": say why'],
    [['freeze', '--fleet', 'lts-5.8.2', '--reason', 'x', '--until', 'tomorrow'], '--until = "tomorrow": not an ISO'],
    [['freeze', '--fleet', 'lts-5.8.2', '--reason', 'x', '--until', '2026-01-01T00:00:00Z'], 'not in the future'],
    [['freeze', '--fleet', 'lts-5.8.2', '--reason', 'x', '--until', '90'], '--until = "90": not an ISO'],
    [['list', '--stage', 'upgrading'], '--stage = "upgrading": one of assessing, waiting-for-window'],
    [['list', 'cp-1'], 'list: unexpected argument "cp-1"'],
    [['status', 'cp-1', '--verbose'], "Unknown option '--verbose'"],
  ])('rejects %j naming the problem', (argv, message) => {
    const run = () => parse(...argv);
    expect(run).toThrow(UsageError);
    expect(run).toThrow(message);
  });
});

// ---- commands, against a stand-in client that records what it was asked ----

type Call = { workflowId: string; op: string; name?: string; args?: unknown[] };

function info(workflowId: string, stage: string, windowOpensAt?: Date): WorkflowExecutionInfo {
  const pairs: ConstructorParameters<typeof TypedSearchAttributes>[0] = [{ key: UpgradeStage, value: stage }];
  if (windowOpensAt) pairs.push({ key: WindowOpensAt, value: windowOpensAt });
  return { workflowId, typedSearchAttributes: new TypedSearchAttributes(pairs) } as WorkflowExecutionInfo;
}

function fakeClient(behaviour: {
  running?: WorkflowExecutionInfo[];
  query?: (workflowId: string) => unknown;
  update?: (workflowId: string, name: string, args: unknown[]) => unknown;
  signal?: (workflowId: string) => void;
}) {
  const calls: Call[] = [];
  const queries: string[] = [];
  const client = {
    withDeadline: <R>(_deadline: number | Date, fn: () => Promise<R>) => fn(),
    workflow: {
      list({ query }: { query: string }) {
        queries.push(query);
        const rows = behaviour.running ?? [];
        return (async function* () {
          yield* rows;
        })();
      },
      getHandle(workflowId: string) {
        return {
          async query(def: { name: string }) {
            calls.push({ workflowId, op: 'query', name: def.name });
            return behaviour.query?.(workflowId);
          },
          async signal(def: { name: string }, ...args: unknown[]) {
            calls.push({ workflowId, op: 'signal', name: def.name, args });
            behaviour.signal?.(workflowId);
          },
          async executeUpdate(def: { name: string }, opts: { args: unknown[] }) {
            calls.push({ workflowId, op: 'update', name: def.name, args: opts.args });
            return behaviour.update?.(workflowId, def.name, opts.args);
          },
        };
      },
    },
  };
  return { client: client as unknown as Client, calls, queries };
}

async function run(client: Client, cmd: SreCommand) {
  const out: string[] = [];
  await runSreCommand(client, cmd, { out: (line) => out.push(line) });
  return out;
}

const window = {
  startAt: '2026-12-06T00:00:00.000Z',
  opensAt: '2026-12-06T00:00:00.000Z',
  closesAt: '2026-12-06T04:00:00.000Z',
  timeZone: 'Europe/Berlin',
  localText: 'Sun 6 Dec 2026 01:00–05:00 CET (Europe/Berlin)',
  utcText: 'Sun 6 Dec 2026 00:00–04:00 UTC',
  leadMinutes: 10080,
  requiredMinutes: 60,
};

describe('npm run sre: commands', () => {
  it('finds a control plane’s one running upgrade through visibility and signals it', async () => {
    const { client, calls, queries } = fakeClient({ running: [info('upgrade/cp-acme-eu/lts-5.8.2', 'preflight')] });
    const out = await run(client, parse('pause', 'cp-acme-eu', '--reason', 'incident 123'));
    expect(queries).toEqual([
      "WorkflowType='controlPlaneUpgrade' AND ExecutionStatus='Running' AND ControlPlaneId='cp-acme-eu'",
    ]);
    expect(calls).toEqual([
      {
        workflowId: 'upgrade/cp-acme-eu/lts-5.8.2',
        op: 'signal',
        name: 'pause',
        args: [{ reason: 'incident 123', by: 'ada' }],
      },
    ]);
    expect(out).toEqual(['upgrade/cp-acme-eu/lts-5.8.2: sent pause by ada "incident 123"']);
  });

  it('asks for --release when a control plane has no or several running upgrades', async () => {
    const none = fakeClient({});
    await expect(run(none.client, parse('status', 'cp-acme-eu'))).rejects.toThrow(
      new CommandError('no running upgrade for control plane cp-acme-eu (give --release <id> for a finished one)'),
    );
    const two = fakeClient({
      running: [info('upgrade/cp-acme-eu/lts-5.8.2', 'preflight'), info('upgrade/cp-acme-eu/sec-5.8.3', 'assessing')],
    });
    await expect(run(two.client, parse('status', 'cp-acme-eu'))).rejects.toThrow(
      'cp-acme-eu has 2 running upgrades (upgrade/cp-acme-eu/lts-5.8.2, upgrade/cp-acme-eu/sec-5.8.3); say which with --release <id>',
    );
    expect(two.calls).toEqual([]);
  });

  it('names an unknown workflow and a finished one', async () => {
    const { client } = fakeClient({
      signal: (id) => {
        throw new WorkflowNotFoundError(
          id.includes('old') ? 'workflow execution already completed' : 'workflow not found',
          id,
          undefined,
        );
      },
    });
    await expect(run(client, parse('resume', 'cp-x', '--release', 'nope'))).rejects.toThrow(
      new CommandError('no upgrade workflow upgrade/cp-x/nope (is the release id right?)'),
    );
    await expect(run(client, parse('approve', '--fleet', 'nope'))).rejects.toThrow(
      'no fleet rollout fleet/nope (is the release id right?)',
    );
    await expect(run(client, parse('cancel', 'cp-x', '--release', 'old'))).rejects.toThrow(
      'upgrade/cp-x/old has already finished: workflow execution already completed',
    );
  });

  it('prints the new window of an accepted deferral, and the workflow’s reason for a rejected one', async () => {
    const { client, calls } = fakeClient({
      update: (_id, _name, args) => {
        const { days } = args[0] as { days: number };
        if (days > 7)
          throw new WorkflowUpdateFailedError(
            'Workflow Update failed',
            ApplicationFailure.create({ message: 'security releases cannot be deferred' }),
          );
        return { window, deferralsLeft: 1 } satisfies DeferResult;
      },
    });
    const out = await run(client, parse('defer', 'cp-acme-eu', '--release', 'lts-5.8.2', '--days', '2'));
    expect(calls[0]).toMatchObject({ op: 'update', name: 'defer', args: [{ days: 2, by: 'ada' }] });
    expect(out).toEqual([
      'upgrade/cp-acme-eu/lts-5.8.2: deferred by 2 day(s); new window:',
      `  ${window.localText}`,
      `  ${window.utcText}`,
      '  1 deferral(s) left',
    ]);
    const rejected = run(client, parse('defer', 'cp-acme-eu', '--release', 'lts-5.8.2', '--days', '9'));
    await expect(rejected).rejects.toBeInstanceOf(CommandError);
    await expect(rejected).rejects.toThrow(
      'upgrade/cp-acme-eu/lts-5.8.2 rejected it: security releases cannot be deferred',
    );
  });

  it('runs upgrade-now as an update and says which stage it left', async () => {
    const { client, calls } = fakeClient({ update: () => ({ accepted: true, from: 'waiting-for-window' }) });
    const out = await run(client, parse('upgrade-now', 'cp-1', '--release', 'r1', '--reason', 'p1 fix', '--by', 'jo'));
    expect(calls[0]).toMatchObject({ op: 'update', name: 'upgradeNow', args: [{ reason: 'p1 fix', by: 'jo' }] });
    expect(out).toEqual(['upgrade/cp-1/r1: upgrading now (was waiting-for-window) by jo "p1 fix"']);
  });

  it('sends freeze with the resolved instant to the fleet', async () => {
    const { client, calls } = fakeClient({});
    await run(client, parse('freeze', '--fleet', 'lts-5.8.2', '--until', '2d', '--reason', 'black friday'));
    expect(calls).toEqual([
      {
        workflowId: 'fleet/lts-5.8.2',
        op: 'signal',
        name: 'freeze',
        args: [{ reason: 'black friday', by: 'ada', until: '2026-11-26T12:00:00.000Z' }],
      },
    ]);
  });

  it('summarises a control plane’s status (window in local time and UTC, steps, last error) or prints JSON', async () => {
    const status: UpgradeStatus = {
      workflowId: 'upgrade/cp-acme-eu/lts-5.8.2',
      controlPlaneId: 'cp-acme-eu',
      releaseId: 'lts-5.8.2',
      releaseKind: 'lts',
      targets: { dashboard: '5.8.2', gateway: '5.8.2' },
      stage: 'gateway',
      paused: true,
      pause: { reason: 'incident 123', by: 'jo', at: '2026-12-06T00:20:00.000Z' },
      versionsBefore: { dashboard: '5.3.4', gateway: '5.3.4' },
      versionsNow: { dashboard: '5.8.2', gateway: '5.3.4' },
      changes: [
        { component: { controlPlaneId: 'cp-acme-eu', kind: 'dashboard', id: 'dashboard' }, from: '5.3.4', to: '5.8.2' },
      ],
      window,
      notices: [{ kind: 'scheduled', key: 'k1', at: '2026-11-24T12:00:00.000Z', duplicate: false }],
      steps: [
        {
          name: 'dashboard',
          status: 'done',
          startedAt: '2026-12-06T00:01:00.000Z',
          endedAt: '2026-12-06T00:05:00.000Z',
          evidence: [
            { at: '2026-12-06T00:04:50.000Z', status: 'pass', version: '5.8.2', httpStatus: 200 },
            {
              at: '2026-12-06T00:04:55.000Z',
              status: 'warn',
              version: '5.8.2',
              httpStatus: 200,
              problems: 'redis: warn (slow)',
            },
          ],
        },
      ],
      lastError: 'gateway /hello answered fail',
      deferrals: [],
    };
    const { client } = fakeClient({ query: () => status });
    const out = await run(client, parse('status', 'cp-acme-eu', '--release', 'lts-5.8.2'));
    expect(out).toEqual(
      expect.arrayContaining([
        'stage:      gateway',
        'paused:     yes by jo "incident 123" at 2026-12-06T00:20:00Z',
        `window:     ${window.localText}`,
        `            ${window.utcText}`,
        'changes:    dashboard 5.3.4 → 5.8.2',
        '  done    dashboard  2026-12-06T00:01:00Z → 2026-12-06T00:05:00Z',
        '          health: 2 probe(s) kept; last 2026-12-06T00:04:55Z: warn on 5.8.2 (HTTP 200) — redis: warn (slow)',
        '  scheduled    2026-11-24T12:00:00Z',
        'last error: gateway /hello answered fail',
      ]),
    );
    const json = await run(client, parse('status', 'cp-acme-eu', '--release', 'lts-5.8.2', '--json'));
    expect(JSON.parse(json.join('\n'))).toEqual(status);
  });

  it('summarises a fleet’s status: stage, waves, in flight, outcomes, failures, halt', async () => {
    const status: FleetStatus = {
      workflowId: 'fleet/lts-5.8.2',
      releaseId: 'lts-5.8.2',
      releaseKind: 'lts',
      targets: { dashboard: '5.8.2', gateway: '5.8.2' },
      rollout: {
        canary: { labels: ['canary'], tiers: [], controlPlaneIds: [] },
        bakeMinutes: 60,
        maxConcurrent: 10,
        failureBudget: { maxFailures: 3, maxRatio: 0.1, minSample: 20 },
        pageSize: 200,
        reconcileMinutes: 60,
        continueAsNewAfterEvents: 10000,
      },
      stage: 'halted',
      eligibility: { listed: 12, eligible: 9, skipped: { hybrid: 2, plugins: 1 } },
      waves: {
        canary: { listed: true, started: 2, finished: 2, failed: 0 },
        main: { listed: true, started: 7, finished: 4, failed: 4 },
      },
      inFlight: { waitingForWindow: 1, waitingForSlot: 0, changing: 2 },
      outcomes: { completed: 2, 'rolled-back': 4 },
      failures: [
        { controlPlaneId: 'cp-x', outcome: 'rolled-back', reason: 'gateway unhealthy', at: '2026-12-06T01:00:00Z' },
      ],
      failureCount: 4,
      paused: false,
      halted: { reason: '4 failures > 3', at: '2026-12-06T01:00:00Z' },
      approvals: [],
      runs: 1,
      maxHistoryLength: 812,
    };
    const { client, calls } = fakeClient({ query: () => status });
    const out = await run(client, parse('status', '--fleet', 'lts-5.8.2'));
    expect(calls).toEqual([{ workflowId: 'fleet/lts-5.8.2', op: 'query', name: 'status' }]);
    expect(out).toEqual(
      expect.arrayContaining([
        'stage:       halted',
        'HALTED:      4 failures > 3 at 2026-12-06T01:00:00Z (approve --fleet lts-5.8.2)',
        'eligibility: 12 listed, 9 eligible; skipped: hybrid 2, plugins 1',
        'waves:       canary listed, 2 started, 2 finished, 0 failed',
        '             main listed, 7 started, 4 finished, 4 failed',
        'in flight:   1 waiting for a window, 0 waiting for a slot, 2 changing',
        'outcomes:    completed 2, rolled-back 4',
        'failures:    4 (latest 1)',
        '  cp-x rolled-back at 2026-12-06T01:00:00Z: gateway unhealthy',
      ]),
    );
  });

  it('lists running upgrades with stage and window, filtered by stage', async () => {
    const { client, queries } = fakeClient({
      running: [
        info('upgrade/cp-b/lts-5.8.2', 'waiting-for-window', new Date('2026-12-06T00:00:00Z')),
        info('upgrade/cp-a/lts-5.8.2', 'waiting-for-window'),
      ],
    });
    const out = await run(client, parse('list', '--stage', 'waiting-for-window'));
    expect(queries).toEqual([
      "WorkflowType='controlPlaneUpgrade' AND ExecutionStatus='Running' AND UpgradeStage='waiting-for-window'",
    ]);
    expect(out[0]).toMatch(/^upgrade\/cp-a\/lts-5\.8\.2 +waiting-for-window$/);
    expect(out[1]).toMatch(/^upgrade\/cp-b\/lts-5\.8\.2 +waiting-for-window +window opens 2026-12-06T00:00:00\.000Z$/);
    expect(out[2]).toBe('2 running upgrade(s) in stage waiting-for-window');
  });
});
