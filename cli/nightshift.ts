#!/usr/bin/env node
// `nightshift <command>`: the one command line (worker, webhook, release, sre, plan, codec-server); see cli/program.ts
// and `nightshift --help`.
import { main } from './program';

main(process.argv.slice(2));
