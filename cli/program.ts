// The `nightshift` command line: one commander program with the subcommands worker, webhook, release, sre, plan and
// codec-server. Parsing is pure (parseCommandLine returns what to run, or the help text); running connects.
import os from 'node:os';
import { Command, type CommanderError } from 'commander';
import { ValidationError } from '../domain/validation';
import { loadConfig } from '../config/config';
import { CommandError } from '../client/sreCommands';
import { connectClient, webUiLink } from '../client/temporalClient';
import { UsageError, type ReadFile } from './cliArgs';
import { addPlanCommand, runPlan, type PlanCommand } from './plan';
import { addReleaseCommand, dryRunJson, runRelease, type ReleaseCommand } from './release';
import { addSreCommand, runSre, type SreInvocation, type SreParseContext } from './sre';

export type Invocation =
  /** Help was asked for (exit 0), or a command was missing (the help goes to stderr, exit 2). */
  | { kind: 'help'; text: string; exitCode: 0 | 2 }
  | { kind: 'sre'; sre: SreInvocation }
  | { kind: 'release'; release: ReleaseCommand }
  | { kind: 'plan'; plan: PlanCommand }
  | { kind: 'worker' | 'webhook' | 'codec-server' };

export interface ParseContext extends SreParseContext {
  /** How files named on the command line are read (tests pass their own). */
  read?: ReadFile;
}

/** Commander stopped after printing help. */
class HelpShown extends Error {
  constructor(readonly exitCode: 0 | 2) {
    super('help shown');
  }
}

const ENV_NOTE =
  '\nConfigured by environment variables: TEMPORAL_* (connection, namespace, task queue) and NIGHTSHIFT_* (see\n' +
  'docs/configuration.md). Exit codes: 0 done, 1 Temporal said no or failed, 2 bad command line or configuration.';

/** The program; `done` receives the parsed command, `write` everything commander prints (help). */
export function buildProgram(ctx: ParseContext, done: (invocation: Invocation) => void, write: (text: string) => void) {
  const program = new Command('nightshift')
    .description('safe, window-aware upgrades of a fleet of API-management control planes, on Temporal')
    .configureOutput({ writeOut: write, writeErr: write, outputError: () => undefined })
    .showSuggestionAfterError(true)
    .addHelpText('after', ENV_NOTE);
  program
    .command('worker')
    .description('run a worker: the workflows and activities, on TEMPORAL_TASK_QUEUE, until SIGINT/SIGTERM')
    .action(() => done({ kind: 'worker' }));
  program
    .command('webhook')
    .description('receive signed release events (POST /release-events) and start each release’s fleet rollout')
    .action(() => done({ kind: 'webhook' }));
  addReleaseCommand(program, (release) => done({ kind: 'release', release }), ctx.read);
  addSreCommand(program, ctx, (sre) => done({ kind: 'sre', sre }));
  addPlanCommand(program, (plan) => done({ kind: 'plan', plan }), ctx.read);
  program
    .command('codec-server')
    .description('the codec server for the Temporal Web UI: decrypts payloads with the workers’ keys')
    .action(() => done({ kind: 'codec-server' }));

  // Every error commander finds becomes one line naming the command: `sre pause: unknown option '--days'`.
  const override = (command: Command, path: string[]) => {
    command.exitOverride((err: CommanderError) => {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') throw new HelpShown(0);
      if (err.code === 'commander.help') throw new HelpShown(2);
      const where = path.length ? `${path.join(' ')}: ` : '';
      // One line: control characters in a value given are shown escaped, as JSON writes them.
      const text = err.message.replace(/^error: /, '').replace(/\n(?=\(Did you mean)/, ' ');
      const oneLine = [...text].map((c) => (c < ' ' ? JSON.stringify(c).slice(1, -1) : c)).join('');
      throw new UsageError(`${where}${oneLine}`);
    });
    for (const sub of command.commands) override(sub, [...path, sub.name()]);
  };
  override(program, []);
  return program;
}

/** What a command line asks for; throws UsageError (or ValidationError for a bad file) with one line per problem. */
export function parseCommandLine(argv: string[], ctx: ParseContext): Invocation {
  let result: Invocation | undefined;
  let text = '';
  const program = buildProgram(
    ctx,
    (invocation) => (result = invocation),
    (s) => (text += s),
  );
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof HelpShown) return { kind: 'help', text, exitCode: err.exitCode };
    throw err;
  }
  if (!result) throw new UsageError(`nothing to do: ${argv.join(' ')}`);
  return result;
}

/** `nightshift sre <argv>`, parsed: the command, or the help text. */
export function parseSreArgs(argv: string[], ctx: ParseContext): SreInvocation | { help: string } {
  const invocation = parseCommandLine(['sre', ...argv], ctx);
  if (invocation.kind === 'help') return { help: invocation.text };
  if (invocation.kind !== 'sre') throw new Error(`not an sre command: ${invocation.kind}`);
  return invocation.sre;
}

/** `nightshift release <argv>`, parsed: the command, or the help text. */
export function parseReleaseArgs(argv: string[], read?: ReadFile): ReleaseCommand | { help: string } {
  const invocation = parseCommandLine(['release', ...argv], { now: new Date(), user: 'nobody', read });
  if (invocation.kind === 'help') return { help: invocation.text };
  if (invocation.kind !== 'release') throw new Error(`not a release command: ${invocation.kind}`);
  return invocation.release;
}

export interface ProgramIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** 2: the command line or the configuration is wrong; 1: Temporal could not do it, or anything else failed. */
export function exitCodeOf(err: unknown): 1 | 2 {
  if (err instanceof UsageError || err instanceof ValidationError) return 2;
  if (err instanceof CommandError) return 1;
  return err instanceof Error && err.message.startsWith('configuration:') ? 2 : 1;
}

async function withClient<T>(
  run: (
    client: Awaited<ReturnType<typeof connectClient>>['client'],
    config: ReturnType<typeof loadConfig>,
  ) => Promise<T>,
): Promise<T> {
  const config = loadConfig();
  const { client, close } = await connectClient(config);
  try {
    return await run(client, config);
  } finally {
    await close();
  }
}

/** Runs a parsed command; resolves when it is done ('detached': the worker runs on and exits by itself). */
export async function runInvocation(invocation: Invocation, io: ProgramIo): Promise<number | 'detached'> {
  switch (invocation.kind) {
    case 'help':
      (invocation.exitCode === 0 ? io.stdout : io.stderr)(invocation.text.trimEnd());
      return invocation.exitCode;
    case 'sre': {
      const { sre } = invocation;
      await withClient((client, config) => runSre(client, sre, io, { taskQueue: config.TEMPORAL_TASK_QUEUE }));
      return 0;
    }
    case 'release': {
      const { release } = invocation;
      if (release.dryRun) {
        io.stdout(JSON.stringify(dryRunJson(release), null, 2));
        return 0;
      }
      await withClient((client, config) =>
        runRelease(client, release, io, {
          taskQueue: config.fleetTaskQueue,
          webUi: (id) => webUiLink(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE, id),
        }),
      );
      return 0;
    }
    case 'plan':
      runPlan(invocation.plan, loadConfig().policy, io);
      return 0;
    // Loaded when used: the worker's SDK is heavy, and the other commands start faster without it.
    case 'worker':
      (await import('../worker/main')).runWorkerProcess();
      return 'detached';
    case 'webhook':
      await (await import('./webhook')).runWebhook();
      return 0;
    case 'codec-server':
      await (await import('./codecServer')).runCodecServer();
      return 0;
  }
}

function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? 'unknown';
  }
}

/** The process: parse, run, print the result on stdout and diagnostics on stderr, exit with the code. */
export function main(argv: string[]): void {
  const io: ProgramIo = {
    stdout: (text) => process.stdout.write(`${text}\n`),
    stderr: (text) => process.stderr.write(`${text}\n`),
  };
  // Exit once stdout is flushed: a pipe (| jq) must get the whole result.
  const exit = (code: number) => process.stdout.write('', () => process.exit(code));
  Promise.resolve()
    .then(() => runInvocation(parseCommandLine(argv, { now: new Date(), user: osUser() }), io))
    .then(
      (code) => {
        if (code !== 'detached') exit(code);
      },
      (err: unknown) => {
        io.stderr(`nightshift: ${err instanceof Error ? err.message : String(err)}`);
        exit(exitCodeOf(err));
      },
    );
}
