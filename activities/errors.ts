import { ApplicationFailure } from '@temporalio/activity';
import { ValidationError } from '../domain/validation';
import { PermissionDeniedError, RequestRejectedError, RetryLaterError, RolloutFailedError } from './ports';

/** Error types a workflow must not retry; listed here so retry policies and adapters agree. */
export const NON_RETRYABLE = {
  noWindow: 'NoWindow',
  rolloutFailed: 'RolloutFailed',
  permissionDenied: 'PermissionDenied',
  verificationFailed: 'VerificationFailed',
  notFound: 'ControlPlaneNotFound',
  undeliverable: 'NoticeUndeliverable',
  requestRejected: 'RequestRejected',
  /** The worker lacks an adapter an activity needs (a wiring mistake: retrying does not help). */
  notConfigured: 'NotConfigured',
} as const;

/** Turns adapter errors into Temporal failures with a type the workflow can act on; others stay retryable. */
export function toFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof RolloutFailedError)
    return ApplicationFailure.nonRetryable(err.message, NON_RETRYABLE.rolloutFailed);
  if (err instanceof PermissionDeniedError)
    return ApplicationFailure.nonRetryable(err.message, NON_RETRYABLE.permissionDenied);
  if (err instanceof RequestRejectedError)
    return ApplicationFailure.nonRetryable(err.message, NON_RETRYABLE.requestRejected);
  // The server said when to come back; the activity's retry policy still caps the attempts.
  if (err instanceof RetryLaterError)
    return ApplicationFailure.create({ message: err.message, type: 'RetryLater', nextRetryDelay: err.retryAfterMs });
  // A bad inventory edit is retried: the activity shows the message in the UI until someone fixes the file.
  if (err instanceof ValidationError) return ApplicationFailure.retryable(err.message, 'InvalidInventory');
  return err;
}

export async function translating<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toFailure(err);
  }
}
