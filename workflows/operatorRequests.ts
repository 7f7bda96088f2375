import { log, setHandler, type SignalDefinition } from '@temporalio/workflow';
import type { OperatorRequest } from './messages';

/** Signal payloads come from the UI and CLI as JSON: accept `{reason, by}` or a bare reason string. */
export function toRequest(arg: unknown): OperatorRequest {
  if (typeof arg === 'string') return { reason: arg };
  if (arg && typeof arg === 'object') {
    const { reason, by } = arg as Record<string, unknown>;
    return { reason: typeof reason === 'string' ? reason : undefined, by: typeof by === 'string' ? by : undefined };
  }
  return {};
}

export function errorMessage(err: unknown): string {
  let cur: unknown = err;
  // ActivityFailure wraps the ApplicationFailure that carries the real message.
  while (cur instanceof Error && cur.cause instanceof Error) cur = cur.cause;
  return cur instanceof Error ? cur.message : String(err);
}

// ---- payload validation ----
//
// Signals and updates arrive as raw JSON (the Web UI, `temporal workflow signal`, other versions of this code): no
// payload, null, wrong types, extra fields. Each handler reads its payload through these checks first. A signal that
// fails them is ignored with a warning that names the field and the value (a signal has no answer, and a handler that
// throws fails every workflow task of the run); an update is rejected with the same message. Plain checks, no schema
// library: this code is bundled into every workflow.

const SHOWN_MAX = 120;

/** A value as a rejection shows it: JSON (so a string is quoted), cut short. */
export function show(value: unknown): string {
  if (value === undefined) return 'missing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > SHOWN_MAX ? `${text.slice(0, SHOWN_MAX)}…` : text;
}

/** A payload that does not have the expected shape. The message names the field and the value. */
export class PayloadError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`${field} ${value === undefined ? 'is missing' : `= ${show(value)}`}: ${expected}`);
    this.name = 'PayloadError';
  }
}

export type JsonObject = Record<string, unknown>;

/** A key that reads plainly after a dot; any other (empty, spaces, `=`, dots, line breaks) is shown quoted. */
const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;
const join = (path: string, key: string) =>
  !PLAIN_KEY.test(key) ? `${path}[${JSON.stringify(key)}]` : path ? `${path}.${key}` : key;

/**
 * Reads one payload. `strict` (updates: the caller sees the answer) rejects unknown fields; otherwise (signals) they
 * are ignored and listed in `extra`, so that the handler can say so.
 */
export class PayloadReader {
  readonly extra: string[] = [];
  constructor(private readonly strict = false) {}

  /** An object (not null, not an array) whose fields are among `known`. The root object has path ''. */
  object(value: unknown, path: string, expected: string, known: readonly string[]): JsonObject {
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new PayloadError(path || 'payload', value, expected);
    for (const [key, v] of Object.entries(value)) {
      if (known.includes(key)) continue;
      const field = join(path, key);
      if (this.strict)
        throw new PayloadError(field, v, `not a field of this payload (its fields: ${known.join(', ')})`);
      this.extra.push(`${field} = ${show(v)}`);
    }
    return value as JsonObject;
  }

  /** A required non-empty string, optionally matching `pattern`. */
  string(o: JsonObject, key: string, path: string, expected = 'a non-empty string', pattern?: RegExp): string {
    const v = o[key];
    if (typeof v !== 'string' || v === '' || (pattern && !pattern.test(v)))
      throw new PayloadError(join(path, key), v, expected);
    return v;
  }

  /** An optional string: absent or null is undefined. */
  optionalString(o: JsonObject, key: string, path: string, expected = 'a string, or leave it out'): string | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new PayloadError(join(path, key), v, expected);
    return v;
  }

  /** One of `values` (required unless `optional`; then absent or null is undefined). */
  oneOf<T extends string>(o: JsonObject, key: string, path: string, values: readonly T[]): T;
  oneOf<T extends string>(
    o: JsonObject,
    key: string,
    path: string,
    values: readonly T[],
    optional: true,
  ): T | undefined;
  oneOf<T extends string>(
    o: JsonObject,
    key: string,
    path: string,
    values: readonly T[],
    optional = false,
  ): T | undefined {
    const v = o[key];
    if (optional && (v === undefined || v === null)) return undefined;
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v))
      throw new PayloadError(join(path, key), v, `one of ${values.join(', ')}`);
    return v as T;
  }

  boolean(o: JsonObject, key: string, path: string): boolean {
    const v = o[key];
    if (typeof v !== 'boolean') throw new PayloadError(join(path, key), v, 'true or false');
    return v;
  }

  optionalBoolean(o: JsonObject, key: string, path: string): boolean | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    return this.boolean(o, key, path);
  }

  /** An ISO-8601 instant with its offset (`2026-12-01T06:00:00Z`, `…+01:00`), a real calendar date. */
  instant(o: JsonObject, key: string, path: string): string {
    const v = o[key];
    if (typeof v !== 'string' || !isIsoInstant(v))
      throw new PayloadError(
        join(path, key),
        v,
        'an ISO-8601 instant with a zone or offset, such as 2026-12-01T06:00:00Z',
      );
    return v;
  }
}

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2}))$/;

/**
 * An ISO-8601 instant: date, time and a zone (Z or an offset), and a date that exists (2026-02-30 does not; Date.parse
 * would read it as 2 March). A time without a zone is refused: it would be read in the worker's own time zone.
 */
export function isIsoInstant(text: string): boolean {
  const m = ISO_INSTANT.exec(text);
  if (!m) return false;
  const [y = 0, mo = 0, d = 0, hour = 0, minute = 0, second = 0, offH = 0, offM = 0] = m
    .slice(1)
    .map((x) => Number(x ?? 0));
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return (
    mo >= 1 &&
    mo <= 12 &&
    d >= 1 &&
    d <= daysInMonth &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offH <= 23 &&
    offM <= 59 &&
    !Number.isNaN(Date.parse(text))
  );
}

const OPERATOR_REQUEST = 'expected {"reason": "...", "by": "..."}, a reason string, or no payload';

/** `{reason, by}` (both optional strings), a bare reason string, or nothing (none or null). */
export function parseOperatorRequest(raw: unknown, r: PayloadReader = new PayloadReader()): OperatorRequest {
  if (raw === undefined || raw === null) return {};
  if (typeof raw === 'string') return { reason: raw };
  const o = r.object(raw, '', OPERATOR_REQUEST, ['reason', 'by']);
  return requestFields(o, r);
}

/** The `reason` and `by` of a payload that has them among other fields. */
export function requestFields(o: JsonObject, r: PayloadReader): OperatorRequest {
  const reason = r.optionalString(o, 'reason', '', 'a string (why), or leave it out');
  const by = r.optionalString(o, 'by', '', 'a string (who), or leave it out');
  return { ...(reason !== undefined ? { reason } : {}), ...(by !== undefined ? { by } : {}) };
}

/**
 * A signal handler that reads its payload with `parse` first. A payload that does not parse is ignored with a warning
 * naming the field and the value; unknown fields are ignored with a warning naming them, and the signal is applied.
 */
export function checkedSignal<T>(
  signal: string,
  parse: (raw: unknown, r: PayloadReader) => T,
  apply: (value: T) => void,
): (...args: unknown[]) => void {
  return (...args: unknown[]) => {
    const r = new PayloadReader();
    let value: T;
    try {
      value = parse(args[0], r);
    } catch (err) {
      // Never thrown on: a handler that throws fails the workflow task, and every retry of it.
      const reason = err instanceof Error ? err.message : String(err);
      log.warn(`${signal} signal ignored: ${reason}`, {
        signal,
        ...(err instanceof PayloadError ? { field: err.field, value: show(err.value) } : {}),
      });
      return;
    }
    if (r.extra.length > 0)
      log.warn(`${signal} signal: unknown field${r.extra.length > 1 ? 's' : ''} ignored: ${r.extra.join(', ')}`, {
        signal,
        fields: r.extra,
      });
    apply(value);
  };
}

/** Registers `apply` for a signal, behind a check of its payload (checkedSignal). */
export function onSignal<Args extends unknown[], T>(
  def: SignalDefinition<Args>,
  parse: (raw: unknown, r: PayloadReader) => T,
  apply: (value: T) => void,
  description: string,
): void {
  setHandler(def, checkedSignal(def.name, parse, apply), { description });
}

/** An update validator's check of its payload: unknown fields are refused too (the caller sees the answer). */
export function checkUpdatePayload<T>(raw: unknown, parse: (raw: unknown, r: PayloadReader) => T): T {
  return parse(raw, new PayloadReader(true));
}
