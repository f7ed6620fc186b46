import { defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import type { Interceptor, StatusObject } from '@grpc/grpc-js';

/** What an interceptor's `nextCall` gives. */
type Call = ReturnType<Parameters<Interceptor>[1]>;

/** gRPC status UNAVAILABLE (grpc/doc/statuscodes.md). */
const UNAVAILABLE = 14;

/**
 * The Temporal client's retry interceptor, made safe to close under. The SDK's interceptor
 * retries a failed call on a timer of its own, which may fire after the caller's deadline and
 * after `connection.close()`; a new call on a closed channel then throws from that timer
 * ("Channel has been shut down"), an uncaught exception that ends the process in the middle of a
 * clean stop (seen with Temporal unreachable during shutdown). Here, once `close()` was called,
 * a retry fails at once with UNAVAILABLE instead of touching the channel, and no new retry is
 * scheduled.
 */
export function closableRetry(): { interceptor: Interceptor; close(): void } {
  let closed = false;
  const retry = defaultGrpcRetryOptions();
  const inner = makeGrpcRetryInterceptor({
    ...retry,
    retryableDecider: (attempt, status) => !closed && retry.retryableDecider(attempt, status),
  });
  const refused = (): Call =>
    ({
      start(metadata: unknown, listener: { onReceiveStatus?: (s: StatusObject) => void }) {
        listener.onReceiveStatus?.({ code: UNAVAILABLE, details: 'connection closed', metadata } as StatusObject);
      },
      sendMessage() {},
      sendMessageWithContext() {},
      halfClose() {},
      startRead() {},
      cancelWithStatus() {},
      getPeer: () => 'closed',
    }) as unknown as Call;
  return {
    interceptor: (options, nextCall) => inner(options, (opts) => (closed ? refused() : nextCall(opts))),
    close() {
      closed = true;
    },
  };
}
