// Verifies a signed release event (the webhook's request): HMAC-SHA256 over `<timestamp>.<raw body>` with a shared
// secret, a timestamp inside a tolerance (so a captured request cannot be replayed later), then the release schema.
// Pure apart from crypto: the HTTP server maps the verdict to a status code and a log line.
import crypto from 'node:crypto';
import { ReleaseSchema, type Release } from '../domain/release';
import { parseWith, ValidationError } from '../domain/validation';

export const SIGNATURE_HEADER = 'x-nightshift-signature';
export const TIMESTAMP_HEADER = 'x-nightshift-timestamp';

export type ReleaseEventVerdict =
  { ok: true; release: Release } | { ok: false; status: 400 | 401 | 422; error: string };

export interface VerifyOptions {
  /** Accepted secrets: more than one during a rotation. */
  secrets: string[];
  /** Seconds a signed request stays valid (either side of now). */
  toleranceSeconds?: number;
  now?: Date;
}

export function signReleaseEvent(secret: string, timestamp: number, rawBody: string): string {
  return `v1=${crypto.createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

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
  if (Math.abs(now - timestamp) > tolerance)
    return { ok: false, status: 401, error: `stale: signed ${now - timestamp}s from now, tolerance ${tolerance}s` };
  const given = Buffer.from(signature);
  const matches = opts.secrets.some((secret) => {
    const expected = Buffer.from(signReleaseEvent(secret, timestamp, rawBody));
    return expected.length === given.length && crypto.timingSafeEqual(expected, given);
  });
  if (!matches) return { ok: false, status: 401, error: 'bad signature' };
  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch (err) {
    return { ok: false, status: 400, error: `body is not JSON: ${(err as Error).message}` };
  }
  try {
    return { ok: true, release: parseWith(ReleaseSchema, json, 'release event') };
  } catch (err) {
    if (err instanceof ValidationError) return { ok: false, status: 422, error: err.message };
    throw err;
  }
}
