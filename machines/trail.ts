import type { InspectionEvent } from 'xstate';

/** One state change of a machine, as the audit trail records it. */
export interface Transition {
  from: string;
  to: string;
  event: string;
}

/**
 * Extracts the state changes from an XState inspection event. Microsteps are used rather than
 * snapshots because eventless (`always`) states such as `received` and `concluding` never appear
 * as settled snapshots, yet operators want them in the audit trail.
 */
export function transitionsOf(ev: InspectionEvent): Transition[] {
  // Only the root machine's own steps; invoked children report their own microsteps.
  if (ev.type !== '@xstate.microstep' || ev.actorRef.sessionId !== ev.rootId) return [];
  const out: Transition[] = [];
  for (const t of ev._transitions) {
    for (const target of t.target ?? []) {
      if (target.key === t.source.key) continue;
      out.push({ from: t.source.key, to: target.key, event: readableEvent(ev.event.type) });
    }
  }
  return out;
}

/**
 * The audit trail's view of a running machine: every state change (as transitionsOf), plus each
 * outside event that was taken without one (an IMDN recorded, the `.RES` to a report), as a step
 * from the current state to itself, so operators see when it came. Such a step is emitted once
 * its macrostep settles, and only if no eventless transition moved the machine meanwhile.
 */
export function trailRecorder(): (ev: InspectionEvent) => Transition[] {
  let pending: Transition | undefined;
  return (ev) => {
    if (ev.actorRef.sessionId !== ev.rootId) return [];
    if (ev.type === '@xstate.snapshot') {
      const out = pending ? [pending] : [];
      pending = undefined;
      return out;
    }
    if (ev.type !== '@xstate.microstep') return [];
    const moved = transitionsOf(ev);
    if (moved.length) pending = undefined;
    else if (!ev.event.type.startsWith('xstate.') && ev._transitions.length) {
      const here = String((ev.snapshot as { value?: unknown }).value);
      pending = { from: here, to: here, event: readableEvent(ev.event.type) };
    }
    return moved;
  };
}

/**
 * XState's internal event names, made readable for operators: `xstate.done.actor.route` ->
 * `route.done`, `xstate.error.actor.route` -> `route.error`, `xstate.after.retryDelay.<path>` ->
 * `after.retryDelay`, `xstate.init` -> `start`. Machine-defined events pass unchanged.
 */
export function readableEvent(type: string): string {
  if (type === 'xstate.init') return 'start';
  const actor = /^xstate\.(done|error)\.actor\.(.+)$/.exec(type);
  if (actor) return `${actor[2]}.${actor[1]}`;
  const after = /^xstate\.after\.([^.]+)\./.exec(type);
  if (after) return `after.${after[1]}`;
  return type;
}
