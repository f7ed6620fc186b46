import { ApplicationFailure } from '@temporalio/activity';
import { SmtpSendError } from '../clients/smtp.js';
import { ErrorType } from '../model/errors.js';

/**
 * The one table from protocol failures to activity failures. SMTP 5xx is a
 * permanent refusal by the MMSC; 4xx and connection errors are retried by Temporal.
 */
export function smtpFailure(err: unknown, what: string): Error {
  if (err instanceof SmtpSendError && err.responseCode !== undefined && err.responseCode >= 500) {
    return ApplicationFailure.create({
      type: ErrorType.MmscRejected,
      nonRetryable: true,
      message: `${what}: MMSC refused with SMTP ${err.responseCode}: ${err.message}`,
      details: [{ smtpCode: err.responseCode }],
    });
  }
  return err instanceof Error ? err : new Error(String(err));
}

export function permanent(type: ErrorType, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type, nonRetryable: true, message, details: details ? [details] : undefined });
}
