/**
 * ClientTransactions on a fake transport whose sends complete only when the test says so, and on a
 * fake clock: when Timers E and F are armed relative to the first send (RFC 3261 17.1.2.2).
 */
import test from 'ava';
import type net from 'node:net';
import { ClientTransactions } from '../../../clients/sip/client-transactions.js';
import type { SipResponse } from '../../../protocols/sip/message.js';
import { FakeClock } from './fake-clock.js';
import { deferred } from './fixtures.js';

const T = { t1: 10, t2: 40 };
const BRANCH = 'z9hG4bKunit';
const udp = { host: '127.0.0.1', port: 5060, transport: 'udp' as const };

/** Lets every pending promise reaction run (nothing here waits for I/O: the transport is fake). */
const reactions = () => new Promise((r) => setImmediate(r));

function setup() {
  const clock = new FakeClock();
  const sends: { at: number; done: ReturnType<typeof deferred<net.Socket | undefined>> }[] = [];
  const transport = {
    send: () => {
      const done = deferred<net.Socket | undefined>();
      sends.push({ at: clock.now(), done });
      return done.promise;
    },
  };
  const txs = new ClientTransactions(transport, T, clock);
  const due = () => clock.pending().map((p) => p.at);
  const sentAt = () => sends.map((s) => s.at);
  return { clock, sends, txs, due, sentAt };
}

const response = (status: number): SipResponse => ({
  kind: 'response',
  status,
  reason: 'Test',
  headers: [
    { name: 'Via', value: `SIP/2.0/UDP 127.0.0.1:5070;branch=${BRANCH}` },
    { name: 'CSeq', value: '1 MESSAGE' },
  ],
  body: Buffer.alloc(0),
});

test('Timer E is armed when the first send has gone out, not when the request was handed over; Timer F from the hand-over', async (t) => {
  const { clock, sends, txs, due, sentAt } = setup();
  const res = txs.start(BRANCH, 'MESSAGE', Buffer.from('req'), udp);
  await reactions();
  t.deepEqual(due(), [640], 'only Timer F (64*T1) while the first send is under way');
  clock.advance(25);
  t.deepEqual(sentAt(), [0], 'no retransmission before the request has gone out');
  sends[0].done.resolve(undefined);
  await reactions();
  t.deepEqual(due(), [35, 640], 'Timer E: T1 after the send completed (at 25)');
  clock.advanceTo(135);
  t.deepEqual(
    sentAt(),
    [0, 35, 55, 95, 135],
    'then 2*T1, 4*T1 = T2 and T2 again; a retransmission still under way does not hold Timer E back',
  );
  txs.onResponse(response(202));
  t.is((await res).status, 202);
  t.deepEqual(due(), [], 'the final response stops Timers E and F');
});

test('a provisional response before the first send has completed: Timer E starts at T2 once it has', async (t) => {
  const { clock, sends, txs, due, sentAt } = setup();
  const res = txs.start(BRANCH, 'MESSAGE', Buffer.from('req'), udp);
  txs.onResponse(response(100));
  await reactions();
  t.deepEqual(due(), [640]);
  clock.advance(5);
  sends[0].done.resolve(undefined);
  await reactions();
  t.deepEqual(due(), [45, 640], 'Proceeding: T2 after the send completed');
  clock.advanceTo(125);
  t.deepEqual(sentAt(), [0, 45, 85, 125], 'every T2');
  clock.advanceTo(640);
  t.is((await res).status, 408, 'the provisional does not stop Timer F');
  t.deepEqual(due(), []);
});

test('a provisional response after the first send restarts Timer E at T2', async (t) => {
  const { clock, sends, txs, due, sentAt } = setup();
  void txs.start(BRANCH, 'MESSAGE', Buffer.from('req'), udp);
  sends[0].done.resolve(undefined);
  await reactions();
  clock.advanceTo(10);
  t.deepEqual(due(), [30, 640]);
  clock.advance(5);
  txs.onResponse(response(100));
  t.deepEqual(due(), [55, 640]);
  clock.advanceTo(95);
  t.deepEqual(sentAt(), [0, 10, 55, 95]);
  txs.closeAll();
});

test('a transaction that ends before its first send completes arms no Timer E', async (t) => {
  const { sends, txs, due } = setup();
  const res = txs.start(BRANCH, 'MESSAGE', Buffer.from('req'), udp);
  txs.onResponse(response(202));
  t.is((await res).status, 202);
  sends[0].done.resolve(undefined);
  await reactions();
  t.deepEqual(due(), []);
});

test('a first send that fails resolves 503 naming the error and leaves no timer', async (t) => {
  const { sends, txs, due } = setup();
  const res = txs.start(BRANCH, 'MESSAGE', Buffer.from('req'), udp);
  sends[0].done.reject(Object.assign(new Error('send EHOSTUNREACH'), { code: 'EHOSTUNREACH' }));
  const r = await res;
  t.is(r.status, 503);
  t.regex(r.reason, /EHOSTUNREACH/);
  await reactions();
  t.deepEqual(due(), []);
});

test('over TCP there is no Timer E, and Timer F gives 408 at exactly 64*T1', async (t) => {
  const { clock, sends, txs, due, sentAt } = setup();
  const res = txs.start(BRANCH, 'MESSAGE', Buffer.from('req'), { ...udp, transport: 'tcp' });
  sends[0].done.resolve({ destroyed: false } as net.Socket);
  await reactions();
  t.deepEqual(due(), [640]);
  let settled = false;
  void res.then(() => (settled = true));
  clock.advanceTo(639);
  await reactions();
  t.false(settled);
  clock.advance(1);
  t.is((await res).status, 408);
  t.deepEqual(sentAt(), [0]);
});
