import {
  ApplicationFailure,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import {
  createActor,
  fromPromise,
  toPromise,
  type AnyStateMachine,
  type EventFromLogic,
  type InputFrom,
  type OutputFrom,
} from 'xstate';
import type { Activities } from '../activities/index.js';
import type { ActorError } from '../machines/common.js';
import { trailRecorder } from '../machines/trail.js';
import type { AuditEntry, Direction, OperatorEvent } from '../model/delivery.js';
import { maskNumbers } from '../model/mask.js';
import type { OutcomeBase } from '../model/outcome.js';
import { auditQuery, IwfMm4Status, IwfOutcome, IwfState, operatorUpdate, type AuditView } from './messages.js';

/**
 * The audit record must land: retried for a day (an idempotent append). One write takes
 * milliseconds; 15 s bounds how long a worker that died mid-write delays the retry elsewhere.
 */
const audit = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '24h',
  retry: { initialInterval: '1s', maximumInterval: '5m' },
});

/** Unwraps Temporal's ActivityFailure into the plain error shape machine guards read. */
export function toActorError(err: unknown): ActorError {
  let e = err as { cause?: unknown; type?: string; message?: string; details?: unknown[] };
  while (e && typeof e === 'object' && 'cause' in e && e.cause) e = e.cause;
  return { type: e?.type ?? 'Error', message: e?.message ?? String(err), details: e?.details?.[0] };
}

/** An XState promise actor backed by an activity call; errors arrive unwrapped (see toActorError). */
export function fromActivity<I, O>(call: (input: I) => Promise<O>) {
  return fromPromise<O, I>(async ({ input }) => {
    try {
      return await call(input);
    } catch (err) {
      if (isCancellation(err)) throw err;
      throw toActorError(err);
    }
  });
}

/**
 * The local steps of a delivery (local activities and in-workflow steps, 0.2 and later): how many
 * are running, and the search attributes waiting to be published with the next state. A local
 * activity runs inside the workflow task that called it and is recorded as one marker, so the
 * states a delivery passes through while one runs end within that task; publishing them would
 * write one upsert event each for states nobody can observe. The state is published when the
 * delivery comes to rest (waiting for a timer, a signal or a normal activity) and at its end,
 * with the outcome in the same upsert.
 */
export interface LocalSteps {
  readonly inFlight: number;
  /** Wraps a local step so that the states it runs in are not published. */
  readonly wrap: <I, O>(call: (input: I) => Promise<O>) => (input: I) => Promise<O>;
  /** A search attribute to publish with the next state (e.g. IwfPeer once the route is known). */
  publishLater(pair: SearchAttributeUpdatePair): void;
  /** Takes what publishLater collected. */
  take(): SearchAttributeUpdatePair[];
}

export function localSteps(): LocalSteps {
  let inFlight = 0;
  let later: SearchAttributeUpdatePair[] = [];
  return {
    get inFlight() {
      return inFlight;
    },
    wrap:
      <I, O>(call: (input: I) => Promise<O>) =>
      async (input: I): Promise<O> => {
        inFlight++; // synchronously, when XState starts the invoked actor (before its observers run)
        try {
          return await call(input);
        } finally {
          inFlight--;
        }
      },
    publishLater(pair) {
      later = [...later.filter((p) => p.key.name !== pair.key.name), pair];
    },
    take() {
      const out = later;
      later = [];
      return out;
    },
  };
}

/**
 * Calls an activity (normal or local) with a one-line summary for the Temporal UI's event history
 * ("SIP MESSAGE to recipient 1 of 2, attempt 3"), for deliveries started on 0.2; a 0.1 delivery's
 * calls stay as they were recorded. Summaries name steps, never addresses (they are not masked).
 */
export function callWith<A extends unknown[], R>(
  steps: LocalSteps | undefined,
  f: ((...args: A) => Promise<R>) & { executeWithOptions(options: { summary?: string }, args: A): Promise<R> },
  summary: string,
  ...args: A
): Promise<R> {
  return steps ? f.executeWithOptions({ summary }, args) : f(...args);
}

/** A duration as the UI reads it: 4m, 3d, 90s. */
export function shortDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${Math.max(s, 0)}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/**
 * XState's clock on durable Temporal timers. Cancelling only forgets the callback: the SDK's own
 * clearTimeout emits CancelTimer from a promise continuation (cancellation scopes), so its position
 * among synchronous commands such as search-attribute upserts differed between a live run and its
 * replay (a TMPRL1100 nondeterminism error, seen in our tests). A forgotten timer still fires, as a
 * no-op, if the delivery is running then; a finished delivery drops it.
 */
function durableClock(shareTimers: boolean, stateNow: () => string) {
  return shareTimers ? sharedDurableClock(stateNow) : ownDurableClock();
}

/**
 * 0.2: one durable timer per moment. A state re-entered while its deadline stands (awaitingImdn
 * after each report sent: `untilExpiry` is the message's expiry less workflow time, the same
 * moment every time) waits on the timer it started before instead of starting another one. The
 * moment is workflow time plus the delay, the same on every replay.
 */
function sharedDurableClock(stateNow: () => string) {
  let next = 0;
  const callbacks = new Map<number, (...args: unknown[]) => void>();
  const byMoment = new Map<number, number[]>();
  return {
    setTimeout(fn: (...args: unknown[]) => void, ms: number) {
      const id = ++next;
      callbacks.set(id, fn);
      const delay = Math.max(1, ms);
      const at = Date.now() + delay;
      const waiting = byMoment.get(at);
      if (waiting) {
        waiting.push(id);
        return id;
      }
      byMoment.set(at, [id]);
      const fire = () => {
        const ids = byMoment.get(at) ?? [];
        byMoment.delete(at);
        for (const i of ids) {
          const f = callbacks.get(i);
          callbacks.delete(i);
          f?.();
        }
      };
      const summary = `wait ${shortDuration(delay)} in ${stateNow()}`;
      sleep(delay, { summary }).then(fire, () => byMoment.delete(at)); // rejected: the workflow itself was cancelled
      return id;
    },
    clearTimeout(id: unknown) {
      callbacks.delete(id as number);
    },
  };
}

function ownDurableClock() {
  let next = 0;
  const live = new Set<number>();
  return {
    setTimeout(fn: (...args: unknown[]) => void, ms: number) {
      const id = ++next;
      live.add(id);
      sleep(Math.max(1, ms)).then(
        () => live.delete(id) && fn(),
        () => live.delete(id), // the workflow itself was cancelled
      );
      return id;
    },
    clearTimeout(id: unknown) {
      live.delete(id as number);
    },
  };
}

/**
 * Runs a delivery machine inside the workflow: audit trail + query, searchable state, current
 * details for the UI, and a failure (not a stuck workflow task) if the machine itself errors: an
 * actor error nobody observes is rethrown by XState from a timer, and anything thrown in workflow
 * code that is not an ApplicationFailure fails the workflow task, which Temporal retries forever.
 */
export async function runMachine<M extends AnyStateMachine>(
  machine: M,
  input: InputFrom<M>,
  direction: Direction,
  /** Ids every log line of this delivery carries (e.g. mm4MessageId, peer). */
  logMeta: Record<string, string> = {},
  /** Registers signal handlers that feed the machine; called before the machine starts. */
  wire?: (send: (event: EventFromLogic<M>) => void) => void,
  /**
   * The delivery's local steps, for deliveries started on 0.2 or later: states are published only
   * at rest and the final state with the outcome (see LocalSteps). Absent: every state is
   * published as it is entered and the outcome after it, as histories recorded by 0.1 have it.
   */
  steps?: LocalSteps,
): Promise<OutputFrom<M>> {
  const trail: AuditEntry[] = [];
  let state = 'received';
  let status: AuditView['status'] = 'active';
  let outcome: OutcomeBase | undefined;
  let lastNote: string | undefined;

  setHandler(auditQuery, () => ({ direction, state, status, trail, outcome }));
  const transitions = trailRecorder();

  const actor = createActor(machine, {
    input,
    clock: durableClock(steps !== undefined, () => state),
    inspect: (ev) => {
      for (const tr of transitions(ev)) {
        const note = (ev as { snapshot?: { context?: { note?: string } } }).snapshot?.context?.note;
        const entry: AuditEntry = { at: new Date().toISOString(), ...tr };
        if (note && note !== lastNote) entry.detail = lastNote = note;
        trail.push(entry);
        state = tr.to;
        log.info('delivery step', {
          workflowId: workflowInfo().workflowId,
          direction,
          ...logMeta,
          from: tr.from,
          to: tr.to,
          event: tr.event,
          detail: entry.detail,
        });
      }
    },
  });

  let published = '';
  actor.subscribe({
    next: (snap) => {
      const value = String((snap as { value: unknown }).value);
      if (steps) {
        setCurrentDetails(detailsMarkdown(direction, value, trail));
        // At rest and not the end (published with the outcome below).
        if (value === published || steps.inFlight > 0 || (snap as { status: string }).status === 'done') return;
        published = value;
        upsertSearchAttributes([{ key: IwfState, value }, ...steps.take()]);
        return;
      }
      if (value === published) return;
      published = value;
      upsertSearchAttributes([{ key: IwfState, value }]);
      setCurrentDetails(detailsMarkdown(direction, value, trail));
    },
    error: () => {
      status = 'error';
    },
  });

  setHandler(
    operatorUpdate,
    (event) => {
      actor.send(event as EventFromLogic<M>);
      return { state };
    },
    {
      validator: (event: OperatorEvent) => {
        if (event?.type === 'operator.abandon' && !event.reason?.trim()) throw new Error('abandon needs a reason');
        if (event?.type === 'operator.reroute' && !event.peer?.trim()) throw new Error('reroute needs a peer');
        if (status !== 'active' || !(actor.getSnapshot() as { can(e: unknown): boolean }).can(event)) {
          throw new Error(
            `'${event?.type}' is not possible in state '${state}'${status !== 'active' ? ` (delivery ${status})` : ''}`,
          );
        }
      },
      description: 'Operator command: operator.retry | operator.abandon {reason} | operator.reroute {peer}',
    },
  );

  // Events sent before start() wait in the actor's mailbox, so early signals are not lost. One
  // that comes after the machine finished (a late report while the audit record is written) is
  // logged, not sent to the stopped actor (XState would warn on the console).
  wire?.((event) => {
    if ((actor.getSnapshot() as { status: string }).status === 'done')
      return log.info('event after the delivery ended ignored', { event: (event as { type: string }).type });
    actor.send(event);
  });
  actor.start();
  try {
    const output: OutcomeBase = await toPromise(actor);
    status = 'done';
    outcome = output;
    const result = [
      { key: IwfOutcome, value: outcome.result },
      { key: IwfMm4Status, value: outcome.mm4Status },
    ];
    // 0.2: the final state and the outcome in one upsert (one history event).
    upsertSearchAttributes(steps ? [{ key: IwfState, value: state }, ...result, ...steps.take()] : result);
    setCurrentDetails(detailsMarkdown(direction, state, trail, outcome));
    const info = workflowInfo();
    await callWith(steps, audit.writeAuditRecord, `audit record: ${outcome.result}`, {
      workflowId: info.workflowId,
      runId: info.runId,
      direction,
      ids: logMeta,
      outcome: { result: outcome.result, mm4Status: outcome.mm4Status, statusText: outcome.statusText },
      trail,
      startedAt: info.startTime.toISOString(),
      endedAt: new Date().toISOString(),
    });
    return output as OutputFrom<M>;
  } catch (err) {
    if (isCancellation(err)) throw err;
    const e = toActorError(err);
    throw ApplicationFailure.nonRetryable(`delivery machine failed: ${e.message}`, 'MachineError');
  }
}

/**
 * Markdown shown as "current details" in the Temporal UI, phone numbers masked (model/mask.ts;
 * workflows cannot read `log.showNumbers`, so always; the clear values are in the audit query and
 * the payloads, read through the codec). Changing what it shows is replay-safe: setCurrentDetails
 * only stores the string on the workflow activator, which answers the `__temporal_workflow_metadata`
 * query from it; no command is emitted and nothing is written to history
 * (@temporalio/workflow src/workflow.ts setCurrentDetails, src/internals.ts queryHandlers).
 */
function detailsMarkdown(direction: Direction, state: string, trail: AuditEntry[], outcome?: OutcomeBase): string {
  // Short cells so the UI's table does not wrap: the time of day (UTC; the date is in the first
  // line), a detail cut to one line. The whole detail is in the audit query and record.
  const oneLine = (d = '') => (d.length > 80 ? `${d.slice(0, 79)}…` : d).replace(/[|\r\n]+/g, ' ');
  const rows = trail.map((e) => `| ${e.at.slice(11, 19)} | ${e.from} → ${e.to} | ${e.event} | ${oneLine(e.detail)} |`);
  const day = trail[0]?.at.slice(0, 10);
  const head = outcome
    ? `**${direction}** finished: **${outcome.result}** (MM4 ${outcome.mm4Status}) — ${outcome.statusText}`
    : `**${direction}** in state **${state}**`;
  const since = day ? ` · ${day} UTC` : '';
  return maskNumbers(
    [`${head}${since}`, '', '| UTC | transition | event | detail |', '|---|---|---|---|', ...rows].join('\n'),
  );
}
