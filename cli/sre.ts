// `npm run sre -- <command>`: status, pause, resume, cancel, defer and upgrade-now for a control plane's workflow;
// status, pause, resume, cancel, approve, freeze, unfreeze, forget and reconcile for a release's fleet rollout; list;
// and schedule (the catch-up schedule). The commands live in client/sreCommands.ts.
import os from 'node:os';
import { ValidationError } from '../domain/validation';
import { loadConfig } from '../config/config';
import { parseSreArgs, runSreCommand, SRE_USAGE, UsageError } from '../client/sreCommands';
import { connectClient } from '../client/temporalClient';

function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? 'unknown';
  }
}

async function main(): Promise<void> {
  const cmd = parseSreArgs(process.argv.slice(2), { now: new Date(), user: osUser() });
  if (cmd.name === 'help') {
    console.log(SRE_USAGE);
    return;
  }
  const config = loadConfig();
  const { client, close } = await connectClient(config);
  try {
    await runSreCommand(client, cmd, { out: (line) => console.log(line), taskQueue: config.TEMPORAL_TASK_QUEUE });
  } finally {
    await close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`sre: ${message}`);
    if (err instanceof UsageError) console.error('(npm run sre -- help for usage)');
    // 2: the command line or the configuration is wrong; 1: Temporal could not do it (CommandError) or is unreachable.
    const usage =
      err instanceof UsageError ||
      err instanceof ValidationError ||
      (err instanceof Error && err.message.startsWith('configuration:'));
    process.exit(usage ? 2 : 1);
  },
);
