// Command-line plumbing shared by the nightshift subcommands: the usage error (exit 2), value validators whose
// messages name the flag and the value, the `-o text|json` option, and text tables. parseFlags (node's parseArgs)
// remains for the dev scripts (scripts/chaos.ts).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Option } from 'commander';
import YAML from 'yaml';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** A bad command line: the message names the flag and the value. Exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = 2;
}

export function parseFlags<O extends OptionsConfig>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    // Node's text spans lines; the hint about positionals ("To specify a positional argument...") does not apply.
    const text = err instanceof Error ? err.message : String(err);
    const message = text.replace(/\s*\n\s*/g, ' ').split(/\. (?=To specify a positional)/)[0]!;
    throw new UsageError(message);
  }
}

export function wholeNumber(flag: string, text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${flag} = ${JSON.stringify(text)}: not a whole number`);
  return Number(text);
}

export function decimal(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`${flag} = ${JSON.stringify(text)}: not a number`);
  return n;
}

export type ReadFile = (file: string) => string;
export const readText: ReadFile = (file) => fs.readFileSync(file, 'utf8');

/** Reads a .json, .yaml or .yml file given with `flag`; the errors name the flag and the file. */
export function readDataFile(flag: string, file: string, read: ReadFile = readText): unknown {
  const text = readTextFile(flag, file, read);
  const ext = path.extname(file).toLowerCase();
  const yaml = ext === '.yaml' || ext === '.yml';
  try {
    return yaml ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    const first = (err as Error).message.split('\n')[0];
    throw new UsageError(`${flag} = ${JSON.stringify(file)}: not ${yaml ? 'YAML' : 'JSON'} (${first})`);
  }
}

/** Reads a file given with `flag`; the error names the flag and the file. */
export function readTextFile(flag: string, file: string, read: ReadFile = readText): string {
  try {
    return read(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      `${flag} = ${JSON.stringify(file)}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
}

export type OutputFormat = 'text' | 'json';

/** `-o, --output text|json`. */
export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text');
}

/** `--json`: the flag before `-o json`, kept for scripts that use it. */
export function jsonOption(): Option {
  return new Option('--json', 'same as -o json').hideHelp();
}

export function outputFormat(opts: { output?: string; json?: boolean }): OutputFormat {
  return opts.json || opts.output === 'json' ? 'json' : 'text';
}

/**
 * A table with a header row and no borders, columns two spaces apart: readable, and easy to cut or grep. `widths`
 * fixes columns (by index) to that width; their text wraps at word boundaries. Written here rather than with
 * cli-table3 (which it replaced): cli-table3 took about 3.5 ms per row, a minute for the plan of 10,000 control
 * planes; this is linear and prints the same layout.
 */
export function textTable(
  head: string[],
  rows: (string | number | undefined)[][],
  widths: Record<number, number> = {},
): string {
  const cells = [head, ...rows.map((row) => head.map((_, i) => String(row[i] ?? '—')))].map((row) =>
    row.map((cell, i) => {
      const lines = cell.split('\n');
      const cap = widths[i];
      return cap === undefined ? lines : lines.flatMap((line) => wrapLine(line, cap));
    }),
  );
  const columnWidths = head.map(
    (_, i) => widths[i] ?? Math.max(...cells.map((row) => Math.max(...row[i]!.map((line) => line.length)))),
  );
  const out: string[] = [];
  for (const row of cells) {
    const height = Math.max(...row.map((lines) => lines.length));
    for (let l = 0; l < height; l++)
      out.push(
        row
          .map((lines, i) => (lines[l] ?? '').padEnd(columnWidths[i]!))
          .join('  ')
          .trimEnd(),
      );
  }
  return out.join('\n');
}

/** Wraps at spaces to `width`; a word longer than the width is cut, ending in `…`. */
function wrapLine(line: string, width: number): string[] {
  if (line.length <= width) return [line];
  const out: string[] = [];
  let current = '';
  for (const word of line.split(' ')) {
    const fitted = word.length > width ? `${word.slice(0, width - 1)}…` : word;
    if (current === '') current = fitted;
    else if (current.length + 1 + fitted.length <= width) current += ` ${fitted}`;
    else {
      out.push(current);
      current = fitted;
    }
  }
  out.push(current);
  return out;
}
