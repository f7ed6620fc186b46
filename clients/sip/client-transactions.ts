import type net from 'node:net';
import { parseCSeq, parseVia } from '../../protocols/sip/headers.js';
import { getHeader, type SipResponse } from '../../protocols/sip/message.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import type { SipTransport, TransportName } from './transport.js';

/** A response made up by the transaction layer (no such message was received). */
export const syntheticResponse = (status: number, reason: string): SipResponse => ({
  kind: 'response',
  status,
  reason,
  headers: [],
  body: Buffer.alloc(0),
});

interface ClientTx {
  method: string;
  promise: Promise<SipResponse>;
  resolve(r: SipResponse): void;
  /** Armed once the first send has gone out (UDP only). */
  timerE?: TimerHandle;
  /** UDP only: arms Timer E for the next retransmission. */
  scheduleE?: (interval: number) => void;
  timerF: TimerHandle;
  proceeding: boolean;
  /** The TCP connection the request went out on: if it dies, no answer can come. */
  socket?: net.Socket;
}

/**
 * Non-INVITE client transactions (RFC 3261 17.1.2), keyed by branch. Every outcome is a response:
 * the first final one received, 408 at Timer F, 503 for a transport error, a lost connection or
 * close(). The Completed state's Timer K is not kept: a late final response finds no transaction
 * and is dropped, which is what Timer K would do. Timers run on the `clock` given (the real one by default).
 */
export class ClientTransactions {
  private readonly txs = new Map<string, ClientTx>();

  constructor(
    private readonly transport: Pick<SipTransport, 'send'>,
    private readonly timers: { t1: number; t2: number },
    private readonly clock: Clock = realClock,
  ) {}

  /** Sends `bytes` (a request whose top Via carries `branch`) and runs its transaction. */
  start(
    branch: string,
    method: string,
    bytes: Buffer,
    dest: { host: string; port: number; transport: TransportName },
  ): Promise<SipResponse> {
    const pending = this.txs.get(branch);
    if (pending) return pending.promise; // the same transaction asked for twice: one outcome
    const { t1, t2 } = this.timers;
    let resolve!: (r: SipResponse) => void;
    const promise = new Promise<SipResponse>((r) => (resolve = r));
    // Timer F: the transaction gives up and the TU sees 408 (RFC 3261 17.1.2.2); it runs from the hand-over,
    // so a send that never completes (a TCP connect hanging) still ends in 408.
    const timerF = this.clock.setTimeout(
      () => this.finish(branch, syntheticResponse(408, 'Request Timeout (no final response)')),
      64 * t1,
    );
    const tx: ClientTx = { method, promise, resolve, timerF, proceeding: false };
    this.txs.set(branch, tx);

    const send = () =>
      this.transport.send(bytes, dest).then(
        (socket) => {
          if (!socket || this.txs.get(branch) !== tx) return;
          tx.socket = socket;
          if (socket.destroyed) this.onConnectionClosed(socket, 'connection closed');
        },
        (e: NodeJS.ErrnoException) =>
          this.finish(branch, syntheticResponse(503, `Service Unavailable (${e.code ?? e.message})`)),
      );
    const first = send();
    if (dest.transport === 'udp') {
      // Timer E: T1, doubling up to T2; in Proceeding every T2 (17.1.2.2).
      tx.scheduleE = (interval: number) => {
        tx.timerE = this.clock.setTimeout(() => {
          void send();
          tx.scheduleE?.(tx.proceeding ? t2 : Math.min(2 * interval, t2));
        }, interval);
      };
      // 17.1.2.2: Timer E is set once the request has been passed to the transport, i.e. when the first send has
      // gone out, not when it was asked for. A provisional response may have come first: then it starts at T2.
      void first.then(() => {
        if (this.txs.get(branch) === tx) tx.scheduleE?.(tx.proceeding ? t2 : t1);
      });
    }
    return promise;
  }

  /** RFC 3261 17.1.3: a response belongs to the transaction of its top Via branch and CSeq method. */
  onResponse(res: SipResponse): void {
    const branch = parseVia(getHeader(res.headers, 'Via') ?? '')?.params.branch;
    const tx = branch === undefined ? undefined : this.txs.get(branch);
    if (!tx || parseCSeq(getHeader(res.headers, 'CSeq') ?? '')?.method !== tx.method) return;
    if (res.status >= 200) this.finish(branch!, res);
    else if (!tx.proceeding) {
      tx.proceeding = true;
      if (tx.scheduleE && tx.timerE !== undefined) {
        this.clock.clearTimeout(tx.timerE);
        tx.scheduleE(this.timers.t2);
      }
    }
  }

  /** A TCP connection closed: its transactions can no longer be answered (RFC 3261 18.4). */
  onConnectionClosed(socket: net.Socket, reason: string): void {
    for (const [branch, tx] of this.txs) {
      if (tx.socket === socket)
        this.finish(branch, syntheticResponse(503, `Service Unavailable (${reason} before a final response)`));
    }
  }

  /** Resolves every pending transaction with 503 (the endpoint is closing). */
  closeAll(): void {
    for (const branch of [...this.txs.keys()])
      this.finish(branch, syntheticResponse(503, 'Service Unavailable (endpoint closed)'));
  }

  private finish(branch: string, res: SipResponse): void {
    const tx = this.txs.get(branch);
    if (!tx) return;
    this.clock.clearTimeout(tx.timerE);
    this.clock.clearTimeout(tx.timerF);
    this.txs.delete(branch);
    tx.resolve(res);
  }
}
