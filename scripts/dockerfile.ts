// The Dockerfile, read just enough to run its runtime stage without a Docker daemon: the build test runs that stage in a
// folder (test/integration/build.test.ts) and the fan-out bench starts its worker with the runtime stage's ENV, so both
// run the worker as the image does. Comments, line continuations, stages (FROM), and ENV in its `NAME=value` form
// with double-quoted values; anything else in an ENV is an error naming the line.
import fs from 'node:fs';
import path from 'node:path';

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** The instructions of each stage, in order (a stage starts at its FROM). */
export function parseDockerfile(text: string): Instruction[][] {
  const stages: Instruction[][] = [];
  let pending = '';
  let startLine = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) return;
    if (pending === '') startLine = i + 1;
    pending += `${line.replace(/\\$/, '').trim()} `;
    if (line.endsWith('\\')) return;
    const [keyword = '', ...rest] = pending.trim().split(/\s+/);
    pending = '';
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(' '), line: startLine };
    if (instruction.keyword === 'FROM') stages.push([]);
    stages.at(-1)?.push(instruction);
  });
  return stages;
}

/** An ENV instruction's variables: `A=1 B="two words" C=` (double quotes may hold spaces and `\"`). */
export function parseEnvArgs(args: string, line: number): Record<string, string> {
  const env: Record<string, string> = {};
  const pair = /\s*([A-Za-z_][A-Za-z0-9_]*)=("((?:[^"\\]|\\.)*)"|[^\s"]*)(?=\s|$)/y;
  let at = 0;
  while (at < args.length) {
    if (args.slice(at).trim() === '') break;
    pair.lastIndex = at;
    const m = pair.exec(args);
    if (!m) throw new Error(`Dockerfile:${line} ENV: expected NAME=value at "${args.slice(at).trim()}"`);
    env[m[1]!] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2]!;
    at = pair.lastIndex;
  }
  return env;
}

/** The variables the runtime stage (the last) sets with ENV, later ones winning. */
export function runtimeEnv(text: string): Record<string, string> {
  const stage = parseDockerfile(text).at(-1) ?? [];
  return Object.assign({}, ...stage.filter((i) => i.keyword === 'ENV').map((i) => parseEnvArgs(i.args, i.line)));
}

/** The checkout's Dockerfile. */
export function readDockerfile(root = path.resolve(__dirname, '..')): string {
  return fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
}
