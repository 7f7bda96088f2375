import {
  ApplicationFailure,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleUpdateOptions,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { CommandError, listQueries } from '../../client/sreCommands';
import { UsageError } from '../../cli/cliArgs';
import { parseSreArgs } from '../../cli/program';
import { parseUntil, runSre, type SreInvocation } from '../../cli/sre';
import type { ControlPlaneStatus, DeferResult, FleetStatus, UpgradeStatus } from '../../workflows/messages';
import { OrgId, ReleaseId, UpgradeStage, WindowOpensAt } from '../../workflows/searchAttributes';

const now = new Date('2026-11-24T12:00:00Z');
/** `nightshift sre <argv>` parsed: the command and the output format. */
const parse = (...argv: string[]): SreInvocation => {
  const r = parseSreArgs(argv, { now, user: 'ada' });
  if ('help' in r) throw new Error(`help shown for ${JSON.stringify(argv)}`);
  return r;
};
const cmd = (...argv: string[]) => parse(...argv).command;
const help = (...argv: string[]) => {
  const r = parseSreArgs(argv, { now, user: 'ada' });
  if (!('help' in r)) throw new Error(`no help for ${JSON.stringify(argv)}`);
  return r.help;
};

describe('nightshift sre: arguments', () => {
  it('parses control-plane and fleet targets; --by defaults to the OS user', () => {
    expect(cmd('pause', 'cp-acme-eu', '--reason', 'incident 123')).toEqual({
      name: 'pause',
      target: { kind: 'control-plane', controlPlaneId: 'cp-acme-eu' },
      request: { reason: 'incident 123', by: 'ada' },
    });
    expect(cmd('cancel', '--fleet', 'lts-5.8.2', '--by', 'jo')).toEqual({
      name: 'cancel',
      target: { kind: 'fleet', releaseId: 'lts-5.8.2' },
      request: { by: 'jo' },
    });
    expect(parse('status', 'cp-acme-eu', '-o', 'json')).toEqual({
      command: { name: 'status', target: { kind: 'control-plane', controlPlaneId: 'cp-acme-eu' } },
      output: 'json',
    });
    expect(parse('status', 'cp-acme-eu', '--json').output).toBe('json');
    expect(parse('pause', 'cp-acme-eu').output).toBe('text');
    expect(cmd('forget', 'cp-acme-eu', '--fleet', 'lts-5.8.2', '--reason', 'decommissioned')).toEqual({
      name: 'forget',
      target: { kind: 'fleet', releaseId: 'lts-5.8.2' },
      controlPlaneId: 'cp-acme-eu',
      request: { reason: 'decommissioned', by: 'ada' },
    });
    expect(cmd('reconcile', '--fleet', 'lts-5.8.2')).toEqual({
      name: 'reconcile',
      target: { kind: 'fleet', releaseId: 'lts-5.8.2' },
      request: { by: 'ada' },
    });
    expect(cmd('schedule')).toEqual({ name: 'schedule', action: 'ensure', every: '1h' });
    expect(cmd('schedule', '--every', '30m')).toEqual({ name: 'schedule', action: 'ensure', every: '30m' });
    expect(cmd('schedule', '--delete')).toEqual({ name: 'schedule', action: 'delete' });
    expect(cmd('list', '--release', 'lts-5.8.2')).toEqual({ name: 'list', filter: { releaseId: 'lts-5.8.2' } });
    expect(cmd('defer', 'cp-acme-eu', '--days', '3')).toMatchObject({ request: { days: 3, by: 'ada' } });
    expect(cmd('list', '--stage', 'halted', '--org', 'org-acme')).toEqual({
      name: 'list',
      filter: { stage: 'halted', orgId: 'org-acme' },
    });
    expect(cmd('list')).toEqual({ name: 'list', filter: {} });
  });

  it('prints help for every command, naming its flags', () => {
    expect(help('--help')).toMatch(/^Usage: nightshift sre \[options\] \[command\]/);
    for (const name of ['status', 'pause', 'defer', 'freeze', 'list', 'schedule', 'forget']) {
      const text = help(name, '--help');
      expect(text).toContain(`Usage: nightshift sre ${name} `);
      expect(text).toContain('-o, --output <format>');
    }
    expect(help('freeze', '--help')).toContain('--until <when>');
    expect(help('list', '-h')).toMatch(/--stage <stage>[\s\S]*--release <release-id>[\s\S]*--org <org-id>/);
    expect(help('help', 'defer')).toContain('Usage: nightshift sre defer [options] <control-plane>');
  });

  it('takes --until as an ISO instant or a duration from now', () => {
    expect(cmd('freeze', '--fleet', 'lts-5.8.2', '--until', '4h', '--reason', 'peak')).toMatchObject({
      request: { until: '2026-11-24T16:00:00.000Z', reason: 'peak', by: 'ada' },
    });
    expect(parseUntil('2d', now)).toBe('2026-11-26T12:00:00.000Z');
    expect(parseUntil('2026-11-25T08:00:00+01:00', now)).toBe('2026-11-25T07:00:00.000Z');
  });

  it.each([
    [['reboot', 'cp-1'], "sre: unknown command 'reboot'"],
    [['pause'], 'pause: needs <control-plane> or --fleet <release-id>'],
    [['pause', 'cp-1', '--fleet', 'lts-5.8.2'], 'give either <control-plane> or --fleet'],
    [['pause', '--fleet', 'lts-5.8.2', '--release', 'x'], 'pause: --release no longer applies'],
    [['status', 'cp-1', '--release', 'lts-5.8.2'], "status: --release no longer applies: a control plane's commands"],
    [['defer', 'cp-1', '--days', '2', '--release', 'lts-5.8.2'], 'defer: --release no longer applies'],
    [['pause', 'CP_1'], '<control-plane> = "CP_1": not a control plane id'],
    [['list', '--release', "x' OR 'a'='a"], "--release = \"x' OR 'a'='a\": not a release id"],
    [['forget', 'cp-1'], 'forget: needs <control-plane> and --fleet <release-id>'],
    [['forget', '--fleet', 'lts-5.8.2'], "sre forget: missing required argument 'control-plane'"],
    [['forget', 'CP_1', '--fleet', 'lts-5.8.2'], '<control-plane> = "CP_1": not a control plane id'],
    [['reconcile', 'cp-1'], 'reconcile: needs --fleet <release-id>, not a control plane'],
    [['reconcile', '--fleet', 'lts-5.8.2', '--days', '1'], "sre reconcile: unknown option '--days'"],
    [['schedule', '--every', 'hourly'], '--every = "hourly": not a duration such as 30m, 1h or 1d'],
    [['schedule', '--every', '30s'], '--every = "30s": at least 1m'],
    [['schedule', '--every', '1h', '--delete'], 'schedule: --every and --delete do not go together'],
    [['schedule', '--fleet', 'lts-5.8.2'], "sre schedule: unknown option '--fleet'"],
    [['schedule', 'cp-1'], 'schedule: unexpected argument "cp-1"'],
    [['approve', 'cp-1'], 'approve: needs --fleet <release-id>, not a control plane'],
    [['defer', '--fleet', 'lts-5.8.2', '--days', '2'], "sre defer: unknown option '--fleet'"],
    [['defer', '--days', '2'], "sre defer: missing required argument 'control-plane'"],
    [['defer', 'cp-1'], 'defer: --days is required'],
    [['defer', 'cp-1', '--days', 'two'], '--days = "two": not a whole number'],
    [['defer', 'cp-1', '--days', '0'], '--days = "0": defer by at least 1 day'],
    [['pause', 'cp-1', '--days', '2'], "sre pause: unknown option '--days'"],
    [['upgrade-now', 'cp-1'], 'upgrade-now: --reason is required'],
    [['abandon-rollback', 'cp-1'], 'abandon-rollback: --reason is required'],
    [['retry-rollback', '--fleet', 'lts-5.8.2'], "sre retry-rollback: unknown option '--fleet'"],
    [['upgrade-now', 'cp-1', '--reason', ' '], '--reason = " ": say why'],
    [['freeze', '--fleet', 'lts-5.8.2', '--reason', 'x', '--until', 'tomorrow'], '--until = "tomorrow": not an ISO'],
    [['freeze', '--fleet', 'lts-5.8.2', '--reason', 'x', '--until', '2026-01-01T00:00:00Z'], 'not in the future'],
    [['freeze', '--fleet', 'lts-5.8.2', '--reason', 'x', '--until', '90'], '--until = "90": not an ISO'],
    [['list', '--stage', 'upgrading'], '--stage = "upgrading": one of idle, assessing, waiting-for-window'],
    [['list', '--org', 'Org_1'], '--org = "Org_1": not an org id'],
    [['list', 'cp-1'], 'list: unexpected argument "cp-1"'],
    [['pause', 'cp-1', 'cp-2'], 'pause: unexpected argument "cp-2"'],
    [['status', 'cp-1', '--verbose'], "sre status: unknown option '--verbose'"],
    [['status', 'cp-1', '-o', 'yaml'], "sre status: option '-o, --output <format>' argument 'yaml' is invalid"],
    [['pause', 'cp-1', '--reason'], "sre pause: option '--reason <text>' argument missing"],
  ])('rejects %j naming the problem, in one line', (argv, message) => {
    const run = () => parse(...argv);
    expect(run).toThrow(UsageError);
    expect(run).toThrow(message);
    expect(() => parse(...argv)).toThrow(/^[^\n]+$/);
  });
});

// ---- commands, against a stand-in client that records what it was asked ----

type Call = { workflowId: string; op: string; name?: string; args?: unknown[] };

function info(
  workflowId: string,
  stage: string,
  more: { windowOpensAt?: Date; releaseId?: string; orgId?: string } = {},
): WorkflowExecutionInfo {
  const pairs: ConstructorParameters<typeof TypedSearchAttributes>[0] = [{ key: UpgradeStage, value: stage }];
  if (more.windowOpensAt) pairs.push({ key: WindowOpensAt, value: more.windowOpensAt });
  if (more.releaseId) pairs.push({ key: ReleaseId, value: more.releaseId });
  if (more.orgId) pairs.push({ key: OrgId, value: more.orgId });
  return {
    workflowId,
    runId: `run-of-${workflowId}`,
    startTime: new Date('2026-11-24T11:00:00Z'),
    typedSearchAttributes: new TypedSearchAttributes(pairs),
  } as WorkflowExecutionInfo;
}

/** A stand-in schedule service holding at most the one schedule: what create, describe, update and delete did. */
function fakeSchedules(existing?: ScheduleDescription) {
  let current = existing;
  const ops: { op: string; options?: unknown }[] = [];
  const schedule = {
    async create(options: ScheduleOptions) {
      ops.push({ op: 'create', options });
      if (current) throw new ScheduleAlreadyRunning('already running', options.scheduleId);
      current = { scheduleId: options.scheduleId } as unknown as ScheduleDescription;
    },
    getHandle(scheduleId: string) {
      const need = () => {
        if (!current) throw new ScheduleNotFoundError('schedule not found', scheduleId);
        return current;
      };
      return {
        async describe() {
          ops.push({ op: 'describe' });
          return need();
        },
        async update(fn: (prev: ScheduleDescription) => ScheduleUpdateOptions) {
          const options = fn(need());
          ops.push({ op: 'update', options });
        },
        async delete() {
          ops.push({ op: 'delete' });
          need();
          current = undefined;
        },
      };
    },
  };
  return { schedule, ops };
}

function fakeClient(behaviour: {
  /** What a visibility query finds. */
  running?: (query: string) => WorkflowExecutionInfo[];
  query?: (workflowId: string) => unknown;
  update?: (workflowId: string, name: string, args: unknown[]) => unknown;
  signal?: (workflowId: string) => void;
  schedule?: ReturnType<typeof fakeSchedules>['schedule'];
}) {
  const calls: Call[] = [];
  const queries: string[] = [];
  const client = {
    withDeadline: <R>(_deadline: number | Date, fn: () => Promise<R>) => fn(),
    schedule: behaviour.schedule,
    workflow: {
      list({ query }: { query: string }) {
        queries.push(query);
        const rows = behaviour.running?.(query) ?? [];
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

/** Runs a parsed command line as `nightshift sre` does; returns the lines it printed on stdout. */
async function run(client: Client, invocation: SreInvocation, taskQueue?: string) {
  const out: string[] = [];
  await runSre(client, invocation, { stdout: (text) => out.push(...text.split('\n')) }, taskQueue ? { taskQueue } : {});
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

const upgrade: UpgradeStatus = {
  workflowId: 'control-plane/cp-acme-eu',
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

const cpStatus: ControlPlaneStatus = {
  workflowId: 'control-plane/cp-acme-eu',
  controlPlaneId: 'cp-acme-eu',
  orgId: 'org-acme',
  state: 'changing',
  installed: { dashboard: '5.8.2', gateway: '5.3.4' },
  installedSeenAt: '2026-12-06T00:05:00.000Z',
  upgrade,
  pending: {
    releaseId: 'lts-5.8.3',
    targets: { dashboard: '5.8.3', gateway: '5.8.3' },
    source: 'fleet',
    offeredAt: '2026-12-06T00:10:00.000Z',
    fleetWorkflowId: 'fleet/lts-5.8.3',
  },
  recent: [
    {
      releaseId: 'lts-5.8.1',
      targets: { dashboard: '5.8.1', gateway: '5.8.1' },
      outcome: 'failed-before-change',
      changed: false,
      reason: 'gateway unhealthy before the upgrade',
      fleetWorkflowId: 'fleet/lts-5.8.1',
      startedAt: '2026-11-01T00:00:00.000Z',
      endedAt: '2026-11-01T00:02:00.000Z',
      versions: { dashboard: '5.3.4', gateway: '5.3.4' },
    },
    {
      releaseId: 'sec-5.3.5',
      targets: { dashboard: '5.3.5', gateway: '5.3.5' },
      outcome: 'skipped',
      skipReason: 'already-at-target',
      changed: false,
      startedAt: '2026-11-10T00:00:00.000Z',
      endedAt: '2026-11-10T00:00:01.000Z',
      versions: {},
    },
  ],
  whyNot: [
    {
      code: 'paused',
      detail: 'paused by jo: "incident 123"',
      evidence: { by: 'jo', since: '2026-12-06T00:20:00Z' },
    },
    { code: 'waiting-for-window', detail: 'the next window opens Sun 6 Dec', until: '2026-12-13T00:00:00.000Z' },
  ],
  nextChanceAt: '2026-12-13T00:00:00.000Z',
  runs: 3,
};

describe('nightshift sre: commands', () => {
  it('signals a control plane’s one workflow, control-plane/<id>, without asking visibility', async () => {
    const { client, calls, queries } = fakeClient({});
    const out = await run(client, parse('pause', 'cp-acme-eu', '--reason', 'incident 123'));
    expect(queries).toEqual([]);
    expect(calls).toEqual([
      {
        workflowId: 'control-plane/cp-acme-eu',
        op: 'signal',
        name: 'pause',
        args: [{ reason: 'incident 123', by: 'ada' }],
      },
    ]);
    expect(out).toEqual(['control-plane/cp-acme-eu: sent pause by ada "incident 123"']);
  });

  it('names an unknown workflow and a finished one', async () => {
    const notFound = (id: string) => {
      throw new WorkflowNotFoundError(
        id.includes('old') ? 'workflow execution already completed' : 'workflow not found',
        id,
        undefined,
      );
    };
    const { client } = fakeClient({ signal: notFound, query: notFound });
    await expect(run(client, parse('status', 'cp-x'))).rejects.toThrow(
      new CommandError('no control-plane workflow: no release has been offered to cp-x yet'),
    );
    await expect(run(client, parse('resume', 'cp-x'))).rejects.toThrow(
      new CommandError('no control-plane workflow: no release has been offered to cp-x yet'),
    );
    await expect(run(client, parse('approve', '--fleet', 'nope'))).rejects.toThrow(
      'no fleet rollout fleet/nope (is the release id right?)',
    );
    await expect(run(client, parse('cancel', 'cp-old'))).rejects.toThrow(
      'control-plane/cp-old has already finished: workflow execution already completed',
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
    const out = await run(client, parse('defer', 'cp-acme-eu', '--days', '2'));
    expect(calls[0]).toMatchObject({
      workflowId: 'control-plane/cp-acme-eu',
      op: 'update',
      name: 'defer',
      args: [{ days: 2, by: 'ada' }],
    });
    expect(out).toEqual([
      'control-plane/cp-acme-eu: deferred by 2 day(s); new window:',
      `  ${window.localText}`,
      `  ${window.utcText}`,
      '  1 deferral(s) left',
    ]);
    const rejected = run(client, parse('defer', 'cp-acme-eu', '--days', '9'));
    await expect(rejected).rejects.toBeInstanceOf(CommandError);
    await expect(rejected).rejects.toThrow(
      'control-plane/cp-acme-eu rejected it: security releases cannot be deferred',
    );
  });

  it('runs upgrade-now as an update and says which stage it left', async () => {
    const { client, calls } = fakeClient({ update: () => ({ accepted: true, from: 'waiting-for-window' }) });
    const out = await run(client, parse('upgrade-now', 'cp-1', '--reason', 'p1 fix', '--by', 'jo'));
    expect(calls[0]).toMatchObject({
      workflowId: 'control-plane/cp-1',
      op: 'update',
      name: 'upgradeNow',
      args: [{ reason: 'p1 fix', by: 'jo' }],
    });
    expect(out).toEqual(['control-plane/cp-1: upgrading now (was waiting-for-window) by jo "p1 fix"']);
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

  it('answers a blocked rollback with retry-rollback and abandon-rollback', async () => {
    const { client, calls } = fakeClient({});
    await run(client, parse('retry-rollback', 'cp-1', '--by', 'jo'));
    await run(client, parse('abandon-rollback', 'cp-1', '--reason', 'restoring by hand', '--by', 'jo'));
    expect(calls).toEqual([
      { workflowId: 'control-plane/cp-1', op: 'signal', name: 'retry-rollback', args: [{ by: 'jo' }] },
      {
        workflowId: 'control-plane/cp-1',
        op: 'signal',
        name: 'abandon-rollback',
        args: [{ reason: 'restoring by hand', by: 'jo' }],
      },
    ]);
  });

  it('sends forget (naming the control plane) and reconcile to the fleet', async () => {
    const { client, calls } = fakeClient({});
    const forgot = await run(
      client,
      parse('forget', 'cp-acme-eu', '--fleet', 'lts-5.8.2', '--reason', 'decommissioned', '--by', 'jo'),
    );
    const reconciled = await run(client, parse('reconcile', '--fleet', 'lts-5.8.2'));
    expect(calls).toEqual([
      {
        workflowId: 'fleet/lts-5.8.2',
        op: 'signal',
        name: 'forget',
        args: [{ controlPlaneId: 'cp-acme-eu', reason: 'decommissioned', by: 'jo' }],
      },
      { workflowId: 'fleet/lts-5.8.2', op: 'signal', name: 'reconcile', args: [{ by: 'ada' }] },
    ]);
    expect(forgot).toEqual(['fleet/lts-5.8.2: sent forget cp-acme-eu by jo "decommissioned"']);
    expect(reconciled).toEqual(['fleet/lts-5.8.2: sent reconcile by ada']);
  });

  it('summarises a control plane: state, versions, the upgrade in progress, pending, recent attempts, why not', async () => {
    const { client, calls } = fakeClient({ query: () => cpStatus });
    const out = await run(client, parse('status', 'cp-acme-eu'));
    expect(calls).toEqual([{ workflowId: 'control-plane/cp-acme-eu', op: 'query', name: 'status' }]);
    expect(out).toEqual([
      'control-plane/cp-acme-eu  control plane cp-acme-eu (org org-acme)',
      'state:      changing',
      'installed:  dashboard=5.8.2 gateway=5.3.4 (as of 2026-12-06T00:05:00Z)',
      'upgrade in progress:',
      '  control-plane/cp-acme-eu  lts release lts-5.8.2: Dashboard 5.8.2, Gateway 5.8.2',
      '  stage:      gateway',
      '  paused:     yes by jo "incident 123" at 2026-12-06T00:20:00Z',
      `  window:     ${window.localText}`,
      `              ${window.utcText}`,
      '  changes:    dashboard 5.3.4 → 5.8.2',
      '  versions:   dashboard=5.8.2 gateway=5.3.4',
      '  steps:',
      '    done    dashboard  2026-12-06T00:01:00Z → 2026-12-06T00:05:00Z',
      '            health: 2 probe(s) kept; last 2026-12-06T00:04:55Z: warn on 5.8.2 (HTTP 200) — redis: warn (slow)',
      '  notices:',
      '    scheduled    2026-11-24T12:00:00Z',
      '  last error: gateway /hello answered fail',
      'pending:    lts-5.8.3 (Dashboard 5.8.3, Gateway 5.8.3), offered by fleet at 2026-12-06T00:10:00Z via fleet/lts-5.8.3',
      'recent attempts (oldest first):',
      '  lts-5.8.1      failed-before-change unchanged  2026-11-01T00:00:00Z → 2026-11-01T00:02:00Z  via fleet/lts-5.8.1: gateway unhealthy before the upgrade',
      '  sec-5.3.5      skipped (already-at-target) unchanged  2026-11-10T00:00:00Z → 2026-11-10T00:00:01Z',
      'why not:',
      '  paused               paused by jo: "incident 123"',
      '                       evidence: by=jo since=2026-12-06T00:20:00Z',
      '  waiting-for-window   the next window opens Sun 6 Dec (until 2026-12-13T00:00:00Z)',
      'next chance: 2026-12-13T00:00:00Z',
      'runs:       3',
    ]);
    const json = await run(client, parse('status', 'cp-acme-eu', '--json'));
    expect(JSON.parse(json.join('\n'))).toEqual(cpStatus);
  });

  it('summarises an idle control plane in a few lines', async () => {
    const idle: ControlPlaneStatus = {
      workflowId: 'control-plane/cp-1',
      controlPlaneId: 'cp-1',
      state: 'idle',
      installed: {},
      recent: [],
      whyNot: [{ code: 'no-release-offered', detail: 'no open release is newer than what it runs' }],
      runs: 1,
    };
    const { client } = fakeClient({ query: () => idle });
    expect(await run(client, parse('status', 'cp-1'))).toEqual([
      'control-plane/cp-1  control plane cp-1',
      'state:      idle',
      'installed:  unknown',
      'upgrade in progress: none',
      'pending:    none',
      'recent attempts: none',
      'why not:',
      '  no-release-offered   no open release is newer than what it runs',
      'runs:       1',
    ]);
    const progressing = { ...idle, state: 'changing' as const, upgrade, whyNot: [] };
    const busy = fakeClient({ query: () => progressing });
    expect(await run(busy.client, parse('status', 'cp-1'))).toContain(
      'why not:    nothing holds it back (the upgrade is making progress)',
    );
  });

  const fleetStatus: FleetStatus = {
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

  it('summarises a fleet’s status: stage, waves, in flight, outcomes, failures, halt', async () => {
    const { client, calls } = fakeClient({ query: () => fleetStatus });
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
    // Without the reconciliation fields (a rollout that has none yet), no line for them.
    expect(out.filter((l) => /^(lost|before change|reconciled):/.test(l))).toEqual([]);
  });

  it('prints lost control planes, stops before change and the last reconciliation when the fleet has them', async () => {
    const status: FleetStatus = {
      ...fleetStatus,
      rollout: { ...fleetStatus.rollout, failureBudget: { ...fleetStatus.rollout.failureBudget, maxBeforeChange: 5 } },
      outcomes: { completed: 2, 'rolled-back': 4, lost: 3 },
      lostCount: 3,
      lost: [
        { controlPlaneId: 'cp-t', reason: 'control-plane workflow is TERMINATED', at: '2026-12-06T02:00:00Z' },
        { controlPlaneId: 'cp-f', reason: 'forgotten by jo: "decommissioned"', at: '2026-12-06T02:30:00Z' },
      ],
      beforeChangeCount: 2,
      reconciledAt: '2026-12-06T03:00:00.000Z',
    };
    const { client } = fakeClient({ query: () => status });
    const out = await run(client, parse('status', '--fleet', 'lts-5.8.2'));
    const lostAt = out.indexOf('lost:        3 (latest 2)');
    expect(lostAt).toBeGreaterThan(-1);
    expect(out.slice(lostAt, lostAt + 4)).toEqual([
      'lost:        3 (latest 2)',
      '  cp-t at 2026-12-06T02:00:00Z: control-plane workflow is TERMINATED',
      '  cp-f at 2026-12-06T02:30:00Z: forgotten by jo: "decommissioned"',
      'reconciled:  2026-12-06T03:00:00Z',
    ]);
    expect(out).toEqual(
      expect.arrayContaining([
        'outcomes:    completed 2, rolled-back 4, lost 3',
        'before change: 2 stopped before changing anything (outside the failure budget)',
      ]),
    );
    expect(out.find((l) => l.startsWith('rollout:'))).toMatch(
      /halt above 3 failures or 10% of 20\+ or 5 stopped before change; reconcile every 60 min$/,
    );
  });

  it('creates the catch-up schedule on the configured task queue, and needs that task queue', async () => {
    const fake = fakeSchedules();
    const { client } = fakeClient({ schedule: fake.schedule });
    expect(await run(client, parse('schedule'), 'nightshift-prod')).toEqual([
      'schedule nightshift-catch-up created: every 1h it starts catchUp (workflow id catch-up) on task queue ' +
        'nightshift-prod, skipped while one still runs',
    ]);
    expect(fake.ops).toEqual([
      {
        op: 'create',
        options: {
          scheduleId: 'nightshift-catch-up',
          spec: { intervals: [{ every: 3_600_000 }] },
          action: expect.objectContaining({
            type: 'startWorkflow',
            workflowType: 'catchUp',
            workflowId: 'catch-up',
            taskQueue: 'nightshift-prod',
            args: [],
          }),
          policies: { overlap: 'SKIP' },
        },
      },
    ]);
    await expect(run(client, parse('schedule'))).rejects.toThrow(/no task queue/);
  });

  it('updates an existing schedule that differs, keeping its state, and reports an equal one unchanged', async () => {
    const existing = {
      scheduleId: 'nightshift-catch-up',
      spec: { intervals: [{ every: 3_600_000, offset: 0 }] },
      action: { type: 'startWorkflow', workflowType: 'catchUp', workflowId: 'catch-up', taskQueue: 'tq', args: [] },
      policies: { overlap: 'SKIP', catchupWindow: 60_000, pauseOnFailure: false },
      state: { paused: true, note: 'paused by jo' },
    } as unknown as ScheduleDescription;
    const fake = fakeSchedules(existing);
    const { client } = fakeClient({ schedule: fake.schedule });
    expect(await run(client, parse('schedule', '--every', '1h'), 'tq')).toEqual([
      'schedule nightshift-catch-up unchanged: every 1h it starts catchUp (workflow id catch-up) on task queue tq, ' +
        'skipped while one still runs',
    ]);
    expect(fake.ops.map((o) => o.op)).toEqual(['create', 'describe']);

    fake.ops.length = 0;
    expect((await run(client, parse('schedule', '--every', '30m'), 'tq'))[0]).toMatch(
      /^schedule nightshift-catch-up updated: every 30m it starts catchUp/,
    );
    expect(fake.ops.map((o) => o.op)).toEqual(['create', 'describe', 'update']);
    expect(fake.ops[2]!.options).toMatchObject({
      spec: { intervals: [{ every: 1_800_000 }] },
      action: { workflowType: 'catchUp', workflowId: 'catch-up', taskQueue: 'tq', args: [] },
      policies: { overlap: 'SKIP', catchupWindow: 60_000 },
      state: { paused: true, note: 'paused by jo' },
    });
  });

  it('deletes the schedule, and says so when there is none', async () => {
    const fake = fakeSchedules({ scheduleId: 'nightshift-catch-up' } as unknown as ScheduleDescription);
    const { client } = fakeClient({ schedule: fake.schedule });
    expect(await run(client, parse('schedule', '--delete'))).toEqual(['schedule nightshift-catch-up deleted']);
    expect(await run(client, parse('schedule', '--delete'))).toEqual([
      'no schedule nightshift-catch-up: nothing to delete',
    ]);
  });

  it('lists running fleets and control planes in a table with a header, filtered by stage, release and org', async () => {
    const { client, queries } = fakeClient({
      running: (query) =>
        query.includes("WorkflowType='fleetRollout'")
          ? [info('fleet/lts-5.8.2', 'main', { releaseId: 'lts-5.8.2' })]
          : [
              info('control-plane/cp-b', 'waiting-for-window', {
                windowOpensAt: new Date('2026-12-06T00:00:00Z'),
                releaseId: 'lts-5.8.2',
                orgId: 'org-acme',
              }),
              info('control-plane/cp-a', 'gateway', { releaseId: 'lts-5.8.2', orgId: 'org-acme' }),
            ],
    });
    const out = await run(client, parse('list', '--release', 'lts-5.8.2'));
    expect(queries).toEqual([
      "WorkflowType='fleetRollout' AND ExecutionStatus='Running' AND ReleaseId='lts-5.8.2'",
      "WorkflowType='controlPlane' AND ExecutionStatus='Running' AND UpgradeStage != 'idle' AND ReleaseId='lts-5.8.2'",
    ]);
    expect(out[0]).toMatch(/^KIND +WORKFLOW ID +RELEASE +STAGE +ORG +WINDOW OPENS$/);
    expect(out[1]).toMatch(/^fleet +fleet\/lts-5\.8\.2 +lts-5\.8\.2 +main +— +—$/);
    expect(out[2]).toMatch(/^control-plane +control-plane\/cp-a +lts-5\.8\.2 +gateway +org-acme +—$/);
    expect(out[3]).toMatch(
      /^control-plane +control-plane\/cp-b +lts-5\.8\.2 +waiting-for-window +org-acme +2026-12-06T00:00:00Z$/,
    );
    expect(out[4]).toBe('1 fleet rollout(s), 2 control plane(s) with an upgrade');
    // The columns line up: every row's stage starts where the header's STAGE does.
    const at = out[0]!.indexOf('STAGE');
    expect(out.slice(1, 4).map((l) => l.slice(at).split(' ')[0])).toEqual(['main', 'gateway', 'waiting-for-window']);

    const json = JSON.parse((await run(client, parse('list', '-o', 'json'))).join('\n'));
    expect(json).toEqual([
      {
        kind: 'fleet',
        workflowId: 'fleet/lts-5.8.2',
        runId: 'run-of-fleet/lts-5.8.2',
        releaseId: 'lts-5.8.2',
        stage: 'main',
        startTime: '2026-11-24T11:00:00.000Z',
      },
      expect.objectContaining({ kind: 'control-plane', workflowId: 'control-plane/cp-a', controlPlaneId: 'cp-a' }),
      expect.objectContaining({ workflowId: 'control-plane/cp-b', windowOpensAt: '2026-12-06T00:00:00.000Z' }),
    ]);
  });

  it('asks visibility only about the kinds a filter can match', () => {
    const kinds = (argv: string[]) => {
      const c = cmd('list', ...argv);
      return c.name === 'list' ? listQueries(c.filter) : [];
    };
    // A control plane's stage, or an org: control planes only. A fleet's stage: fleets only.
    expect(kinds(['--stage', 'waiting-for-window'])).toEqual([
      {
        kind: 'control-plane',
        query: "WorkflowType='controlPlane' AND ExecutionStatus='Running' AND UpgradeStage='waiting-for-window'",
      },
    ]);
    expect(kinds(['--org', 'org-acme']).map((q) => q.query)).toEqual([
      "WorkflowType='controlPlane' AND ExecutionStatus='Running' AND UpgradeStage != 'idle' AND OrgId='org-acme'",
    ]);
    expect(kinds(['--stage', 'halted']).map((q) => q.query)).toEqual([
      "WorkflowType='fleetRollout' AND ExecutionStatus='Running' AND UpgradeStage='halted'",
    ]);
    // `completed` and `cancelled` are stages of both.
    expect(kinds(['--stage', 'completed']).map((q) => q.kind)).toEqual(['fleet', 'control-plane']);
    expect(kinds(['--stage', 'idle']).map((q) => q.query)).toEqual([
      "WorkflowType='controlPlane' AND ExecutionStatus='Running' AND UpgradeStage='idle'",
    ]);
  });

  it('says nothing is running in one line', async () => {
    const { client } = fakeClient({ running: () => [] });
    expect(await run(client, parse('list'))).toEqual([
      'nothing running: 0 fleet rollout(s), 0 control plane(s) with an upgrade',
    ]);
  });

  it('prints -o json for commands that change something: the action, the workflow, the result', async () => {
    const { client } = fakeClient({
      update: (_id, name) =>
        name === 'defer'
          ? ({ window, deferralsLeft: 1 } satisfies DeferResult)
          : { accepted: true, from: 'waiting-for-window' },
    });
    const json = async (...argv: string[]) => JSON.parse((await run(client, parse(...argv, '-o', 'json'))).join('\n'));
    expect(await json('pause', 'cp-acme-eu', '--reason', 'incident 123')).toEqual({
      action: 'pause',
      workflowId: 'control-plane/cp-acme-eu',
      result: 'signaled',
      request: { reason: 'incident 123', by: 'ada' },
    });
    expect(await json('resume', '--fleet', 'lts-5.8.2')).toEqual({
      action: 'resume',
      workflowId: 'fleet/lts-5.8.2',
      result: 'signaled',
      request: { by: 'ada' },
    });
    expect(await json('forget', 'cp-1', '--fleet', 'lts-5.8.2')).toMatchObject({
      action: 'forget',
      workflowId: 'fleet/lts-5.8.2',
      request: { controlPlaneId: 'cp-1' },
    });
    expect(await json('defer', 'cp-1', '--days', '2')).toEqual({
      action: 'defer',
      workflowId: 'control-plane/cp-1',
      result: 'deferred',
      request: { days: 2, by: 'ada' },
      window,
      deferralsLeft: 1,
    });
    expect(await json('upgrade-now', 'cp-1', '--reason', 'fix')).toMatchObject({
      action: 'upgrade-now',
      result: 'upgrading-now',
      from: 'waiting-for-window',
    });
    const fake = fakeSchedules();
    const withSchedules = fakeClient({ schedule: fake.schedule });
    const schedule = await run(withSchedules.client, parse('schedule', '-o', 'json'), 'tq');
    expect(JSON.parse(schedule.join('\n'))).toEqual({
      action: 'schedule',
      scheduleId: 'nightshift-catch-up',
      result: 'created',
      everyMinutes: 60,
      taskQueue: 'tq',
      workflowId: 'catch-up',
      workflowType: 'catchUp',
    });
  });
});
