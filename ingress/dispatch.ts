import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { CpmToMmsInput, Direction, MmsToCpmInput } from '../model/delivery.js';
import { maskNumbers } from '../model/mask.js';
import {
  imdnSignal,
  IwfDirection,
  IwfPeer,
  IwfState,
  mm4InboundSignal,
  type ImdnSignal,
  type Mm4InboundSignal,
} from '../workflows/messages.js';

/** Temporal could not be reached or refused: the caller answers "try again later" (SMTP 4xx). */
export class DispatchUnavailable extends Error {
  constructor(cause: unknown) {
    super(`Temporal unavailable: ${(cause as Error)?.message ?? cause}`);
    this.name = 'DispatchUnavailable';
  }
}

/**
 * Temporal refused the start itself (gRPC INVALID_ARGUMENT, e.g. an input over the payload limit):
 * trying again cannot help, so the caller answers with a permanent failure (SMTP 5xx, SIP 4xx).
 */
export class DispatchRefused extends Error {
  constructor(cause: unknown) {
    super(`Temporal refused the delivery: ${(cause as Error)?.message ?? cause}`);
    this.name = 'DispatchRefused';
  }
}

/** gRPC status codes (grpc/doc/statuscodes.md) that mean the request itself is wrong. */
const PERMANENT_GRPC = new Set([3 /* INVALID_ARGUMENT */, 11 /* OUT_OF_RANGE */]);
const grpcCode = (e: unknown): number | undefined => {
  for (let c: unknown = e; c && typeof c === 'object'; c = (c as { cause?: unknown }).cause) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'number') return code;
  }
  return undefined;
};

export type SignalResult = 'delivered' | 'ended' | 'unknown';

export interface Dispatcher {
  /** Durably starts the delivery, or finds it already started (retransmission): both mean "ours now". */
  startMmsToCpm(workflowId: string, input: MmsToCpmInput, summary: string): Promise<'started' | 'existing'>;
  startCpmToMms(workflowId: string, input: CpmToMmsInput, summary: string): Promise<'started' | 'existing'>;
  /** Signals a PDU to the delivery it belongs to. */
  /** 'ended': the delivery exists but finished (its events can change nothing); 'unknown': no such delivery. */
  signalMm4(workflowId: string, payload: Mm4InboundSignal): Promise<SignalResult>;
  /** Signals an IMDN to the MMS -> CPM delivery it reports on. */
  signalImdn(workflowId: string, payload: ImdnSignal): Promise<SignalResult>;
}

/**
 * `deadlineMs`: how long ingress waits for Temporal before answering the peer with a temporary
 * failure (the MMSC retries; an SMTP client waits minutes for the final reply, RFC 5321 4.5.3.2.6).
 */
export function temporalDispatcher(
  client: Client,
  taskQueue: string,
  deadlineMs = 10_000,
  /** Counts each start by what it did (worker/metrics.ts). */
  metrics?: {
    deliveryStarted(direction: Direction, result: 'accepted' | 'duplicate' | 'refused' | 'unavailable'): void;
  },
): Dispatcher {
  const withDeadline = <T>(fn: () => Promise<T>) => client.connection.withDeadline(Date.now() + deadlineMs, fn);

  async function start(
    type: string,
    direction: Direction,
    workflowId: string,
    input: unknown,
    summary: string,
    peer?: string,
  ) {
    try {
      await withDeadline(() =>
        client.workflow.start(type, {
          workflowId,
          taskQueue,
          args: [input],
          // Exactly-once intake (docs/temporal-notes.md): a running duplicate is the same delivery, and a
          // finished one is never started again while the namespace retains it.
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          typedSearchAttributes: [
            { key: IwfDirection, value: direction },
            { key: IwfState, value: 'received' },
            ...(peer ? [{ key: IwfPeer, value: peer }] : []),
          ],
          // Shown in the UI's list and stored in history: numbers masked (model/mask.ts).
          staticSummary: maskNumbers(summary),
        }),
      );
      metrics?.deliveryStarted(direction, 'accepted');
      return 'started' as const;
    } catch (e) {
      if (e instanceof WorkflowExecutionAlreadyStartedError) {
        metrics?.deliveryStarted(direction, 'duplicate');
        return 'existing' as const;
      }
      const refused = PERMANENT_GRPC.has(grpcCode(e) ?? -1);
      metrics?.deliveryStarted(direction, refused ? 'refused' : 'unavailable');
      if (refused) throw new DispatchRefused(e);
      throw new DispatchUnavailable(e);
    }
  }

  async function signal(workflowId: string, send: () => Promise<void>): Promise<SignalResult> {
    try {
      await withDeadline(send);
      return 'delivered';
    } catch (e) {
      if (!(e instanceof WorkflowNotFoundError)) throw new DispatchUnavailable(e);
    }
    // Not running: finished (within Temporal's retention) or never there.
    try {
      await withDeadline(() => client.workflow.getHandle(workflowId).describe());
      return 'ended';
    } catch (e) {
      if (e instanceof WorkflowNotFoundError) return 'unknown';
      throw new DispatchUnavailable(e);
    }
  }

  return {
    startMmsToCpm: (workflowId, input, summary) =>
      start('mmsToCpm', 'mms-to-cpm', workflowId, input, summary, input.peer),
    startCpmToMms: (workflowId, input, summary) => start('cpmToMms', 'cpm-to-mms', workflowId, input, summary),
    signalMm4: (workflowId, payload) =>
      signal(workflowId, () => client.workflow.getHandle(workflowId).signal(mm4InboundSignal, payload)),
    signalImdn: (workflowId, payload) =>
      signal(workflowId, () => client.workflow.getHandle(workflowId).signal(imdnSignal, payload)),
  };
}
