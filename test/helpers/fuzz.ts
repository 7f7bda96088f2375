// Shared generators of bad input for the fuzz tests (test/unit/fuzzEntryPoints.test.ts, test/workflow/fuzzSignals.test.ts):
// structurally valid values that are wrong (wrong types, out of range, huge, unicode, prototype keys, deep nesting,
// NaN and Infinity as strings, dates in bad formats), mutations of valid inputs at a random field, and random bytes.
import fc from 'fast-check';

/** The seed every fuzz property runs with: fixed, so a failure reproduces; `FUZZ_SEED=<n>` explores other inputs. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 1212);

/** Cases run per entry point, printed by the suites at the end. */
export class CaseCounter {
  readonly counts = new Map<string, number>();
  add(entryPoint: string, n: number): void {
    this.counts.set(entryPoint, (this.counts.get(entryPoint) ?? 0) + n);
  }
  get total(): number {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }
  report(title: string): string {
    const width = Math.max(...[...this.counts.keys()].map((k) => k.length), 10);
    const lines = [...this.counts].map(([k, n]) => `  ${k.padEnd(width)} ${String(n).padStart(6)}`);
    return [
      `${title} (seed ${FUZZ_SEED}):`,
      ...lines,
      `  ${'total'.padEnd(width)} ${String(this.total).padStart(6)}`,
    ].join('\n');
  }
}

/** fc.assert with the fixed seed; counts the runs under `entryPoint`. A failure's message names seed and path. */
export function check<Ts extends [unknown, ...unknown[]]>(
  counter: CaseCounter,
  entryPoint: string,
  property: fc.IProperty<Ts>,
  numRuns: number,
): void {
  fc.assert(property, { numRuns, seed: FUZZ_SEED, endOnFailure: true });
  counter.add(entryPoint, numRuns);
}

export async function checkAsync<Ts extends [unknown, ...unknown[]]>(
  counter: CaseCounter,
  entryPoint: string,
  property: fc.IAsyncProperty<Ts>,
  numRuns: number,
): Promise<void> {
  await fc.assert(property, { numRuns, seed: FUZZ_SEED, endOnFailure: true });
  counter.add(entryPoint, numRuns);
}

export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'] as const;

export const NASTY_STRINGS = [
  '',
  ' ',
  '\t\n',
  ...PROTO_KEYS,
  'NaN',
  'Infinity',
  '-Infinity',
  '1e309',
  '-0',
  '0x10',
  '1_000',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
  '\u0000',
  '\uFEFF',
  '\u202Eevil',
  '🦄',
  'e\u0301',
  '\ud800',
  'İ',
  '2026-02-30T00:00:00Z',
  '2026-13-01',
  '31/12/2026',
  '2026-12-01 06:00',
  '2026-12-01T06:00',
  '2026-12-01T25:00:00Z',
  '+275760-09-13T00:00:00Z',
  'tomorrow',
  '1767225600',
  '5.8.2',
  'v5.8.2',
  '5.8',
  '05.08.02',
  '5.8.2-rc.1+build.7',
  '>=5.3.0 <5.3.9',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  "'; DROP TABLE control_planes; --",
  '${process.env.HOME}',
  '%s%n%x',
  'javascript:alert(1)',
  'http://tyk.io/notes',
  'https://',
  'Europe/Berlin',
  'Mars/Olympus_Mons',
  'mon',
  'first sunday',
  'day 32',
  '25:00',
  '-5',
  'lts-5.8.2',
  'cp-acme-eu',
  '--fleet',
  '-h',
] as const;

export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  // Huge: 5,000 to 20,000 characters.
  {
    weight: 1,
    arbitrary: fc.tuple(fc.string({ minLength: 1, maxLength: 4 }), fc.integer({ min: 5000, max: 20_000 })),
  }.arbitrary.map(([s, n]) => s.repeat(Math.ceil(n / s.length))),
);

export const nastyNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, -0, -1, 1.5, 0.1, 59, 1e21, 1e308, -1e308, 2 ** 31, 2 ** 53 + 2, Number.MIN_VALUE),
  fc.constantFrom(Number.NaN, Infinity, -Infinity),
  fc.integer({ min: -100_000, max: 100_000 }),
  fc.double(),
);

export const nastyKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PROTO_KEYS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('id', 'kind', 'reason', 'by', 'until', 'days', 'rollout', '') },
);

/** Sets an own, enumerable property (also for `__proto__`, which plain assignment would treat as the prototype). */
export function setOwn(o: object, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

function objectOf(entries: [string, unknown][]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) setOwn(o, k, v);
  return o;
}

/** n levels of nesting: `[[[…]]]` or `{"a":{"a":…}}`. */
export function nested(depth: number, kind: 'array' | 'object'): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = kind === 'array' ? [v] : { a: v };
  return v;
}

/** Any wrong value: scalars, arrays and objects (with prototype keys), deep nesting. */
export const nastyValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: nastyString },
    { weight: 3, arbitrary: nastyNumber },
    { weight: 1, arbitrary: fc.constantFrom(true, false, null, undefined) },
    { weight: 1, arbitrary: fc.array(tie('value'), { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.array(fc.tuple(nastyKey, tie('value')), { maxLength: 4 }).map(objectOf) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 50, max: 2000 }), fc.constantFrom('array' as const, 'object' as const))
        .map(([d, k]) => nested(d, k)),
    },
  ),
})).value;

/** Random bytes, decoded as UTF-8 (what a file or a body of them reads as). */
export const randomBytesText: fc.Arbitrary<string> = fc
  .uint8Array({ maxLength: 300 })
  .map((b) => Buffer.from(b).toString('utf8'));

export type Path = (string | number)[];

/** Every path into a JSON-like value (objects and arrays, and their leaves), the root excluded. */
export function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [];
  const out: Path[] = [];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : Object.entries(value as Record<string, unknown>);
  for (const [k, v] of entries) {
    const p = [...prefix, k];
    out.push(p, ...pathsOf(v, p));
  }
  return out;
}

const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

/** `a.b[0].c` (`a[""]`, `a["x y"]` for keys that are not plain), as the validators name a field. */
export function fieldName(path: Path): string {
  return path.reduce<string>((acc, key) => {
    if (typeof key === 'number') return `${acc}[${key}]`;
    if (!PLAIN_KEY.test(key)) return `${acc}[${JSON.stringify(key)}]`;
    return acc ? `${acc}.${key}` : key;
  }, '');
}

/** A field name as the validators write it: plain keys joined by dots, `[0]` indices, `["quoted keys"]`. */
export const FIELD = String.raw`(?:[A-Za-z_$][\w$-]*|\[(?:\d+|"(?:[^"\\]|\\.)*")\])(?:\.[A-Za-z_$][\w$-]*|\[(?:\d+|"(?:[^"\\]|\\.)*")\])*`;

/** The path a field name stands for (the inverse of fieldName). */
export function parseFieldName(field: string): Path {
  const out: Path = [];
  for (const m of field.matchAll(/([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3]!) as string);
  }
  return out;
}

export type Mutation =
  | { kind: 'set'; path: Path; value: unknown }
  | { kind: 'delete'; path: Path }
  | { kind: 'extra'; path: Path; key: string; value: unknown };

/** A change of a valid input at one random place: a field set to a wrong value, removed, or a field added. */
export function mutations(base: unknown): fc.Arbitrary<Mutation> {
  const paths = pathsOf(base);
  const objectPaths: Path[] = [[], ...paths.filter((p) => isPlainObject(at(base, p)))];
  const extra = fc
    .tuple(fc.constantFrom(...objectPaths), nastyKey, nastyValue)
    .map(([path, key, value]) => ({ kind: 'extra', path, key, value }) as const);
  if (paths.length === 0) return extra;
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(fc.constantFrom(...paths), nastyValue)
        .map(([path, value]) => ({ kind: 'set', path, value }) as const),
    },
    { weight: 2, arbitrary: fc.constantFrom(...paths).map((path) => ({ kind: 'delete', path }) as const) },
    { weight: 2, arbitrary: extra },
  );
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function at(value: unknown, path: Path): unknown {
  let cur = value;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

/** Applies mutations to a deep copy of `base`. */
export function mutate<T>(base: T, ms: Mutation[]): unknown {
  const copy = structuredClone(base) as unknown;
  let root = copy;
  for (const m of ms) {
    if (m.kind === 'extra' || m.path.length > 0) {
      const parentPath = m.kind === 'extra' ? m.path : m.path.slice(0, -1);
      const parent = at(root, parentPath);
      if (parent === null || typeof parent !== 'object') continue;
      if (m.kind === 'extra') setOwn(parent, m.key, m.value);
      else {
        const key = m.path.at(-1)!;
        if (m.kind === 'delete') {
          if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
          else delete (parent as Record<string, unknown>)[key];
        } else setOwn(parent, String(key), m.value);
      }
    } else if (m.kind === 'set') root = m.value;
  }
  return root;
}

/** The path a mutation names (for `extra`, the added field). */
export function mutatedPath(m: Mutation): Path {
  return m.kind === 'extra' ? [...m.path, m.key] : m.path;
}

/** A message that carries a stack trace (or a source location) instead of saying what is wrong. */
export function hasStackTrace(message: string): boolean {
  return /\n\s+at\s/.test(message) || /\(\/?[\w./-]+\.[tj]s:\d+:\d+\)/.test(message) || /node:internal/.test(message);
}

/** What a rejection shows of a value: JSON, as the validators do (a lone surrogate escaped, non-finite numbers named). */
export function excerpt(value: unknown, max = 16): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.slice(0, max);
}
