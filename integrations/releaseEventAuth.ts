// Verifies a signed release event (the webhook's request): HMAC-SHA256 over `<timestamp>.<raw body>` with a shared
// secret, compared in constant time; a timestamp inside a tolerance (so a captured request cannot be replayed later),
// then the release schema. A replay inside the tolerance is the ReplayGuard's job (below): the server remembers the
// signatures it accepted until they go stale. Pure apart from crypto: the HTTP server maps the verdict to a status code
// and a log line.
import crypto from 'node:crypto';
import { ReleaseSchema, type Release } from '../domain/release';
import { parseWith, ValidationError } from '../domain/validation';

export const SIGNATURE_HEADER = 'x-nightshift-signature';
export const TIMESTAMP_HEADER = 'x-nightshift-timestamp';

export type ReleaseEventVerdict =
  | {
      ok: true;
      release: Release;
      /** The signature's digest (lower-case hex, no `v1=`): the replay guard's key. */
      signature: string;
      /** The signed timestamp (Unix seconds). */
      signedAt: number;
    }
  | { ok: false; status: 400 | 401 | 422; error: string };

export interface VerifyOptions {
  /** Accepted secrets: more than one during a rotation. */
  secrets: string[];
  /** Seconds a signed request stays valid (either side of now). */
  toleranceSeconds?: number;
  now?: Date;
}

function digest(secret: string, timestamp: number, rawBody: string): Buffer {
  return crypto.createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest();
}

export function signReleaseEvent(secret: string, timestamp: number, rawBody: string): string {
  return `v1=${digest(secret, timestamp, rawBody).toString('hex')}`;
}

const SIGNATURE = /^v1=([0-9a-fA-F]{64})$/;

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export function verifyReleaseEvent(
  headers: Record<string, string | string[] | undefined>,
  rawBody: string,
  opts: VerifyOptions,
): ReleaseEventVerdict {
  if (opts.secrets.length === 0) throw new Error('verifyReleaseEvent: no secret configured');
  const signature = header(headers, SIGNATURE_HEADER);
  const timestampText = header(headers, TIMESTAMP_HEADER);
  if (!signature || !timestampText)
    return { ok: false, status: 401, error: `unsigned: ${SIGNATURE_HEADER} and ${TIMESTAMP_HEADER} are required` };
  if (!/^\d{1,12}$/.test(timestampText))
    return {
      ok: false,
      status: 400,
      error: `${TIMESTAMP_HEADER} = ${JSON.stringify(timestampText)}: not Unix seconds`,
    };
  const timestamp = Number(timestampText);
  const now = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const tolerance = opts.toleranceSeconds ?? 300;
  const age = now - timestamp;
  if (age > tolerance) return { ok: false, status: 401, error: `stale: signed ${age} s ago, tolerance ${tolerance} s` };
  if (-age > tolerance)
    return {
      ok: false,
      status: 401,
      error: `not yet valid: signed ${-age} s from now, tolerance ${tolerance} s (is the sender's clock right?)`,
    };
  const m = SIGNATURE.exec(signature.trim());
  if (!m) return { ok: false, status: 401, error: `bad signature: ${SIGNATURE_HEADER} is not "v1=" and 64 hex digits` };
  // Digests of equal length (32 bytes), compared in constant time, against every secret: neither how much of the
  // signature matched nor which secret did shows in the time taken.
  const given = Buffer.from(m[1]!, 'hex');
  let matches = false;
  for (const secret of opts.secrets)
    matches = crypto.timingSafeEqual(digest(secret, timestamp, rawBody), given) || matches;
  if (!matches) return { ok: false, status: 401, error: 'bad signature' };
  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch (err) {
    return { ok: false, status: 400, error: `body is not JSON: ${(err as Error).message}` };
  }
  try {
    const release = parseWith(ReleaseSchema, json, 'release event');
    return { ok: true, release, signature: given.toString('hex'), signedAt: timestamp };
  } catch (err) {
    if (err instanceof ValidationError) return { ok: false, status: 422, error: err.message };
    throw err;
  }
}

/**
 * The signatures of accepted requests, each until it goes stale (its timestamp plus the tolerance): a second request
 * with the same signature inside that window is a replay (a captured request sent again), refused. A sender that
 * delivers an event again signs it anew (a new timestamp): that is a new delivery (the rollout's start is idempotent).
 * In memory, per process: replicas of the webhook do not share it.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, { at: number; expires: number }>();
  private readonly maxEntries: number;

  constructor(opts: { maxEntries?: number } = {}) {
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  get size(): number {
    return this.seen.size;
  }

  /**
   * Claims a signature until `expiresAtMs`. Refused when it was claimed already (with when), or when the guard is
   * full of signatures still inside their window (it refuses rather than forget one: only a holder of the secret can
   * fill it).
   */
  claim(
    signature: string,
    expiresAtMs: number,
    nowMs: number = Date.now(),
  ): { ok: true } | { ok: false; firstSeenAt: number } | { ok: false; full: true } {
    for (const [key, entry] of this.seen) if (entry.expires <= nowMs) this.seen.delete(key);
    const seen = this.seen.get(signature);
    if (seen) return { ok: false, firstSeenAt: seen.at };
    if (this.seen.size >= this.maxEntries) return { ok: false, full: true };
    this.seen.set(signature, { at: nowMs, expires: expiresAtMs });
    return { ok: true };
  }

  /** Forgets a claimed signature: the request did not take effect (the sender may send it again). */
  release(signature: string): void {
    this.seen.delete(signature);
  }
}
