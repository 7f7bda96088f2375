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
