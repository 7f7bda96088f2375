// `npm run chaos`: at least 100 control-plane upgrades on a SQLite-persisted dev server while workers are SIGKILLed
// (20 times by default) and the server restarts, operators cancel, pause and defer at random, and HubSpot and
// PagerDuty go down for minutes at a time. Prints the verdict, judged from the simulated fleet's own audit log:
// every figure under "must be 0" must be 0 (exit 1 otherwise). Flags: --control-planes N --kills N
// --server-restarts N --workers N --seed N --max-minutes N --chaos-minutes N.
import { parseFlags, UsageError, wholeNumber } from '../cli/cliArgs';
import { runChaos } from './chaos/run';

async function main(): Promise<void> {
  const { values } = parseFlags(process.argv.slice(2), {
    'control-planes': { type: 'string', default: '110' },
    kills: { type: 'string', default: '20' },
    'server-restarts': { type: 'string', default: '1' },
    workers: { type: 'string', default: '2' },
    seed: { type: 'string', default: String(Date.now() % 100_000) },
    'max-minutes': { type: 'string', default: '30' },
    'chaos-minutes': { type: 'string', default: '6' },
  });
  const opts = {
    controlPlanes: wholeNumber('--control-planes', values['control-planes']),
    kills: wholeNumber('--kills', values.kills),
    serverRestarts: wholeNumber('--server-restarts', values['server-restarts']),
    workers: Math.max(1, wholeNumber('--workers', values.workers)),
    seed: wholeNumber('--seed', values.seed),
    maxMinutes: wholeNumber('--max-minutes', values['max-minutes']),
    chaosMinutes: wholeNumber('--chaos-minutes', values['chaos-minutes']),
  };
  const t0 = Date.now();
  const log = (line: string) => console.log(`[chaos +${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${line}`);
  log(
    `seed ${opts.seed}: ${opts.controlPlanes} control planes, ${opts.kills} worker kills, ${opts.serverRestarts} server restart(s)`,
  );
  const r = await runChaos({ ...opts, log });
  const v = r.verdict;
  console.log(`\nchaos run (seed ${opts.seed}) in ${(r.durationMs / 60_000).toFixed(1)} min; files in ${r.dir}`);
  console.log(`  worker SIGKILLs ${r.kills}, server restarts ${r.serverRestarts}`);
  console.log(`  operator actions: ${JSON.stringify(r.actions)}`);
  console.log(`  outages (requests refused or held): ${JSON.stringify(r.outages)}`);
  console.log(
    `  control planes ${v.figures.controlPlanes}; attempts ${v.figures.attempts}: ${JSON.stringify(v.figures.outcomes)}`,
  );
  console.log(`  final states: ${JSON.stringify(v.figures.finalStates)}`);
  console.log(
    `  changes started ${v.figures.changesStarted}, restores started ${v.figures.restoresStarted}, emails ${v.figures.emails}, ` +
      `incidents ${v.figures.incidents} for ${v.figures.harmfulAttempts} attempts that changed something and did not complete`,
  );
  console.log('  must be 0:');
  for (const [k, n] of Object.entries(v.zeros)) console.log(`    ${k.padEnd(20)} ${n}`);
  for (const line of v.violations.slice(0, 50)) console.log(`  ✗ ${line}`);
  const bad = Object.values(v.zeros).some((n) => n > 0);
  console.log(bad ? '\nVERDICT: FAILED' : '\nVERDICT: all zero');
  process.exit(bad ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error(`chaos: ${err instanceof UsageError ? err.message : ((err as Error).stack ?? String(err))}`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
