// Command-line parsing shared by the operator CLIs (release, sre): node's parseArgs, with its errors turned into one
// line naming the flag, and small validators whose messages name the flag and the value.
import { parseArgs, type ParseArgsConfig } from 'node:util';

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
