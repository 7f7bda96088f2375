import type { z } from 'zod';

/** An input that failed validation. The message names every bad field and its value; no stack trace is needed. */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`${source} is invalid:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
  }
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** A key that reads plainly after a dot; any other (empty, spaces, `=`, dots, line breaks) is shown quoted. */
const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>((acc, key) => {
    if (typeof key === 'number') return `${acc}[${key}]`;
    const name = String(key);
    if (!PLAIN_KEY.test(name)) return `${acc}[${JSON.stringify(name)}]`;
    return acc ? `${acc}.${name}` : name;
  }, '');
}

/**
 * A value as JSON, cut short. YAML can give what JSON cannot: a structure that contains itself (anchors and aliases),
 * NaN and Infinity (`.nan`, `.inf`), sets and maps (`%YAML 1.1`): those are shown too, never thrown on.
 */
function show(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  let s: string;
  try {
    const seen = new WeakSet<object>();
    s =
      JSON.stringify(value, (_key, v: unknown) => {
        if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
        if (typeof v === 'bigint') return v.toString();
        if (v instanceof Set) return [...v];
        if (v instanceof Map) return Object.fromEntries(v);
        if (v !== null && typeof v === 'object') {
          if (seen.has(v)) return '[circular]';
          seen.add(v);
        }
        return v;
      }) ?? String(value);
  } catch {
    s = Object.prototype.toString.call(value);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Parses with a zod schema; on failure throws a ValidationError naming `field: value — problem` for each issue. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, source: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const field = formatPath(issue.path) || '(root)';
    return `${field} = ${show(valueAt(input, issue.path))}: ${issue.message}`;
  });
  throw new ValidationError(source, issues);
}
