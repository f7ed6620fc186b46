import test from 'ava';
import { assign, createActor, setup } from 'xstate';
import { readableEvent, trailRecorder, type Transition } from '../../machines/trail.js';

/** A tiny chart: `ping` is recorded in place, `go` sets a flag an eventless transition acts on. */
const chart = setup({
  types: {
    context: {} as { pings: number; go: boolean },
    events: {} as { type: 'ping' } | { type: 'go' } | { type: 'stop' },
  },
}).createMachine({
  context: { pings: 0, go: false },
  initial: 'idle',
  on: {
    ping: { actions: assign(({ context }) => ({ pings: context.pings + 1 })) },
    go: { actions: assign({ go: true }) },
  },
  states: {
    idle: { always: { guard: ({ context }) => context.go, target: 'running' } },
    running: { on: { stop: 'stopped' } },
    stopped: { type: 'final' },
  },
});

function record(events: ({ type: 'ping' } | { type: 'go' } | { type: 'stop' })[]): Transition[] {
  const steps = trailRecorder();
  const out: Transition[] = [];
  const actor = createActor(chart, { inspect: (ev) => out.push(...steps(ev)) });
  actor.start();
  for (const e of events) actor.send(e);
  return out;
}

test('outside events taken without a state change appear as steps in place', (t) => {
  t.deepEqual(record([{ type: 'ping' }]), [{ from: 'idle', to: 'idle', event: 'ping' }]);
});

test('an outside event whose eventless follow-up moves the machine appears once, as the move', (t) => {
  t.deepEqual(record([{ type: 'go' }, { type: 'ping' }, { type: 'stop' }]), [
    { from: 'idle', to: 'running', event: 'go' },
    { from: 'running', to: 'running', event: 'ping' },
    { from: 'running', to: 'stopped', event: 'stop' },
  ]);
});

test('events nobody handles leave no trace', (t) => {
  t.deepEqual(record([{ type: 'stop' }]), []);
});

test('internal event names are made readable', (t) => {
  t.deepEqual(
    [
      'xstate.init',
      'xstate.done.actor.route',
      'xstate.error.actor.sendRes',
      'xstate.after.retryDelay.mmsToCpm.retryWait',
      'operator.retry',
    ].map(readableEvent),
    ['start', 'route.done', 'sendRes.error', 'after.retryDelay', 'operator.retry'],
  );
});
