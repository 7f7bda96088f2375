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

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>(
    (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)),
    '',
  );
}

function show(value: unknown): string {
  if (value === undefined) return 'missing';
  const s = JSON.stringify(value);
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
