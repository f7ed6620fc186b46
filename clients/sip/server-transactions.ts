import { randomBytes } from 'node:crypto';
import { printable } from '../../protocols/mime/headers.js';
import { parseCSeq, parseVia } from '../../protocols/sip/headers.js';
import { getHeader, serializeSipMessage, type SipParseError, type SipRequest } from '../../protocols/sip/message.js';
import { createResponse, responseTarget, type ResponseSpec } from '../../protocols/sip/response.js';
import { statusReason } from '../../protocols/sip/status.js';
import { realClock, type Clock } from './clock.js';
import type { Flow, SipTransport, TransportLog, TransportName } from './transport.js';

export type RequestHandler = (
  req: SipRequest,
  info: { transport: TransportName; remote: { host: string; port: number } },
) => Promise<ResponseSpec> | ResponseSpec;

interface ServerTx {
  /** The final response once the handler has answered; retransmissions get it again. */
  response?: Buffer;
  flow: Flow;
}

/** RFC 3261 8.1.1.7: only branches with the magic cookie identify a transaction. */
const MAGIC_COOKIE = 'z9hG4bK';

/**
 * Non-INVITE server transactions (RFC 3261 17.2.2) keyed by top Via branch + sent-by + method.
 * A retransmission is absorbed: the handler is not called again and the last response, if any
 * yet, is sent again. A transaction lives Timer J (64*T1) after its response on UDP, none on TCP.
 * Requests without an RFC 3261 branch are answered but not matched (no RFC 2543 fallback). Timer J runs on `clock`.
 * INVITE is out of scope (501: no INVITE transactions, hence no ACK or CANCEL semantics either).
 */
export class ServerTransactions {
  handler?: RequestHandler;
  closed = false;
  private readonly txs = new Map<string, ServerTx>();

  constructor(
    private readonly transport: Pick<SipTransport, 'send'>,
    private readonly o: {
      t1: number;
      log?: TransportLog;
      /** Each final response written for a request (once: retransmissions of it are not new answers). */
      onAnswer?: (method: string, status: number) => void;
    },
    private readonly clock: Clock = realClock,
  ) {}

  async onRequest(req: SipRequest, flow: Flow): Promise<void> {
    if (req.method === 'ACK') return; // ACKs a non-2xx INVITE answer; we run no INVITE transactions
    const via = parseVia(getHeader(req.headers, 'Via') ?? '');
    if (!via)
      return this.o.log?.warn(
        { remote: flow.remote, method: req.method },
        'SIP request without a readable Via dropped',
      );
    const sentBy = `${via.host}:${via.port ?? ''}`;
    const key = via.params.branch?.startsWith(MAGIC_COOKIE)
      ? `${via.params.branch}|${sentBy}|${req.method}`
      : undefined;
    const existing = key === undefined ? undefined : this.txs.get(key);
    if (existing) {
      if (existing.response) this.send(req, existing.response, flow);
      return;
    }
    const tx: ServerTx = { flow };
    if (key) this.txs.set(key, tx);
    const toTag = randomBytes(6).toString('hex');
    const spec = await this.answer(req, flow, via.params.branch, sentBy);
    tx.response = this.serialize(req, spec, toTag, flow);
    if (tx.response) this.send(req, tx.response, flow);
    // Timer J: keep absorbing retransmissions for 64*T1 on UDP; zero on reliable transports.
    if (key)
      this.clock.setTimeout(() => this.txs.delete(key), flow.transport === 'udp' ? 64 * this.o.t1 : 0, { unref: true });
  }

  /** A request that did not parse gets 400 when it can be answered at all (RFC 3261 18.3, 21.4.1). */
  onInvalid(e: SipParseError, flow: Flow): void {
    const req = e.partial;
    // An answered one is logged as its refusal (with the parse error in the reason), the rest here.
    if (req?.kind !== 'request' || req.method === 'ACK')
      return this.o.log?.warn(
        { remote: flow.remote, transport: flow.transport, error: e.error },
        'unparseable SIP message',
      );
    const bytes = this.serialize(
      req,
      e.status === 505
        ? { status: 505, reason: 'Version Not Supported' }
        : { status: 400, reason: `Bad Request (${e.error})` },
      randomBytes(6).toString('hex'),
      flow,
    );
    if (bytes) this.send(req, bytes, flow);
  }

  private async answer(req: SipRequest, flow: Flow, branch: string | undefined, sentBy: string): Promise<ResponseSpec> {
    if (req.method === 'INVITE') return { status: 501, reason: 'Not Implemented (INVITE)' };
    const missing = ['From', 'To', 'Call-ID', 'CSeq'].filter((h) => getHeader(req.headers, h) === undefined);
    if (missing.length) return { status: 400, reason: `Bad Request (missing ${missing.join(', ')})` };
    if (parseCSeq(getHeader(req.headers, 'CSeq')!)?.method !== req.method)
      return { status: 400, reason: 'Bad Request (bad CSeq)' };
    if (req.method === 'CANCEL') {
      // RFC 3261 9.2: a CANCEL of a non-INVITE transaction is answered 200 and changes nothing.
      const prefix = `${branch}|${sentBy}|`;
      const known = [...this.txs.keys()].some((k) => k.startsWith(prefix) && !k.endsWith('|CANCEL'));
      return known ? { status: 200 } : { status: 481 };
    }
    if (!this.handler) return { status: 501 };
    try {
      const spec = await this.handler(req, { transport: flow.transport, remote: flow.remote });
      if (Number.isInteger(spec.status) && spec.status >= 200 && spec.status <= 699) return spec;
      this.o.log?.warn(
        { status: spec.status, method: req.method, callId: getHeader(req.headers, 'Call-ID') },
        'SIP request handler answered no final status',
      );
    } catch (e) {
      // The cause; the 500 it becomes is logged as a refusal with the request's other fields.
      this.o.log?.warn(
        { error: (e as Error).message, method: req.method, callId: getHeader(req.headers, 'Call-ID') },
        'SIP request handler failed',
      );
    }
    return { status: 500 };
  }

  /** The response's bytes; undefined when not even a bare 500 can be written (nothing is sent). */
  private serialize(req: SipRequest, spec: ResponseSpec, toTag: string, flow: Flow): Buffer | undefined {
    // A reason phrase often quotes the input that was refused; RFC 3261 25.1 Reason-Phrase has no
    // control characters, so they are replaced rather than turning a 4xx into a 500.
    if (spec.reason !== undefined) spec = { ...spec, reason: printable(spec.reason, Infinity) };
    const res = createResponse(req, spec, toTag, flow.remote);
    if (!res) return undefined; // no usable Via: nowhere to send an answer (RFC 3261 18.2.2)
    try {
      const bytes = serializeSipMessage(res);
      this.o.onAnswer?.(req.method, spec.status);
      this.logRefusal(req, res.status, res.reason, flow);
      return bytes;
    } catch (e) {
      // The handler gave headers that cannot be written (CR/LF injection, bad names).
      this.o.log?.warn({ error: (e as Error).message, method: req.method }, 'SIP response not writable');
    }
    try {
      const bytes = serializeSipMessage(createResponse(req, { status: 500 }, toTag, flow.remote) ?? res);
      this.o.onAnswer?.(req.method, 500);
      this.logRefusal(req, 500, statusReason(500), flow);
      return bytes;
    } catch (e) {
      // The request's own headers cannot be copied into an answer: drop it rather than throw.
      this.o.log?.warn({ error: (e as Error).message, method: req.method }, 'SIP request unanswerable, dropped');
      return undefined;
    }
  }

  /**
   * Every refusal we answer (>= 300), once per transaction, with what finds the request in a trace:
   * Call-ID and CSeq (RFC 3261 8.1.1.4, 8.1.1.5), the source and transport it came over, and the
   * body's type and encoding (a 415 or 400 is often about them). Retransmissions are not logged again.
   */
  private logRefusal(req: SipRequest, status: number, reason: string, flow: Flow): void {
    if (status < 300) return;
    const { host, port } = flow.remote;
    this.o.log?.warn(
      {
        method: req.method,
        callId: getHeader(req.headers, 'Call-ID'),
        cseq: getHeader(req.headers, 'CSeq'),
        remote: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
        transport: flow.transport,
        contentType: getHeader(req.headers, 'Content-Type'),
        contentEncoding: getHeader(req.headers, 'Content-Encoding'),
        status,
        reason,
      },
      'SIP request refused',
    );
  }

  /** Over TCP on the request's connection; else (UDP, or the connection is gone) per RFC 3261 18.2.2. */
  private send(req: SipRequest, bytes: Buffer, flow: Flow): void {
    if (this.closed) return;
    const target = responseTarget(req, flow.transport, flow.remote);
    if (!target) return;
    this.transport
      .send(bytes, { ...target, transport: flow.transport }, flow.socket)
      .catch((e: Error) => this.o.log?.warn({ error: e.message, remote: target }, 'SIP response not sent'));
  }
}
