import { randomBytes } from 'node:crypto';
import { formatVia, parseCSeq, parseNameAddrParams, parseVia } from '../../protocols/sip/headers.js';
import {
  getHeader,
  getHeaders,
  serializeSipMessage,
  statusReason,
  type SipHeader,
  type SipMessage,
  type SipRequest,
  type SipResponse,
} from '../../protocols/sip/message.js';
import { SipTransport, type Flow, type TransportLog, type TransportName } from './transport.js';

export interface SipEndpointOptions {
  host: string;
  /** 0 = ephemeral; UDP and TCP bind the same port number. */
  port: number;
  transports?: TransportName[];
  /** Host written in Via sent-by; defaults to `host` (127.0.0.1 when bound to a wildcard). */
  publicHost?: string;
  /** RFC 3261 17.1.2.2 defaults: T1 500 ms, T2 4 s, T4 5 s. Timer F = 64*T1. */
  timers?: { t1?: number; t2?: number; t4?: number };
  maxMessageBytes?: number;
  log?: TransportLog;
}

export interface OutgoingRequest {
  method: string;
  uri: string;
  /** From (with tag), To, Call-ID, CSeq and any others; the endpoint adds Via and Content-Length. */
  headers: SipHeader[];
  body?: Buffer;
  /** `z9hG4bK...`; pass a deterministic one so a repeated request is a retransmission. */
  branch?: string;
}

export interface ResponseSpec {
  status: number;
  reason?: string;
  headers?: SipHeader[];
  body?: Buffer;
}

export type RequestHandler = (
  req: SipRequest,
  info: { transport: TransportName; remote: { host: string; port: number } },
) => Promise<ResponseSpec> | ResponseSpec;

export interface SipEndpoint {
  readonly host: string;
  readonly port: number;
  sendRequest(req: OutgoingRequest, dest: { host: string; port: number; transport: TransportName }): Promise<SipResponse>;
  onRequest(handler: RequestHandler): void;
  close(): Promise<void>;
}

interface ClientTx {
  method: string;
  promise: Promise<SipResponse>;
  resolve(r: SipResponse): void;
  timers: NodeJS.Timeout[];
  proceeding: boolean;
}

interface ServerTx {
  response?: Buffer;
  flow: Flow;
  dest: { host: string; port: number; transport: TransportName };
}

const synthetic = (status: number, reason: string): SipResponse => ({ kind: 'response', status, reason, headers: [], body: Buffer.alloc(0) });

/**
 * A focused RFC 3261 endpoint: transport (section 18) plus non-INVITE client (17.1.2) and server
 * (17.2.2) transactions. INVITE is out of scope: such requests reach the handler like any other,
 * and no ACK is ever answered.
 */
export async function createSipEndpoint(o: SipEndpointOptions): Promise<SipEndpoint> {
  const t1 = o.timers?.t1 ?? 500;
  const t2 = o.timers?.t2 ?? 4000;
  const timerF = 64 * t1;
  const clients = new Map<string, ClientTx>();
  const servers = new Map<string, ServerTx>();
  let handler: RequestHandler | undefined;
  let closed = false;
  const transport = new SipTransport(
    { host: o.host, port: o.port, transports: o.transports ?? ['udp', 'tcp'], maxMessageBytes: o.maxMessageBytes, log: o.log },
    (m, flow) => (m.kind === 'response' ? onResponse(m) : void onRequest(m, flow)),
  );
  await transport.start();
  const sentBy = o.publicHost ?? (o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host);

  function finish(branch: string, res: SipResponse) {
    const tx = clients.get(branch);
    if (!tx) return;
    tx.timers.forEach(clearTimeout);
    clients.delete(branch);
    tx.resolve(res);
  }

  /** RFC 3261 17.1.3: match by top Via branch and CSeq method. */
  function onResponse(res: SipResponse) {
    const branch = parseVia(getHeader(res.headers, 'Via') ?? '')?.params.branch;
    const tx = branch ? clients.get(branch) : undefined;
    if (!tx || parseCSeq(getHeader(res.headers, 'CSeq') ?? '')?.method !== tx.method) return;
    if (res.status < 200) tx.proceeding = true;
    else finish(branch!, res);
  }

  function sendRequest(req: OutgoingRequest, dest: { host: string; port: number; transport: TransportName }): Promise<SipResponse> {
    const branch = req.branch ?? `z9hG4bK${randomBytes(12).toString('base64url')}`;
    const pending = clients.get(branch);
    if (pending) return pending.promise; // the same transaction asked for twice: one outcome
    if (closed) return Promise.resolve(synthetic(503, 'Service Unavailable (endpoint closed)'));
    const via = formatVia({ transport: dest.transport.toUpperCase(), host: sentBy, port: transport.port, params: { branch, rport: '' } });
    const headers = [{ name: 'Via', value: via }, ...req.headers.filter((h) => h.name.toLowerCase() !== 'via')];
    if (!getHeader(headers, 'Max-Forwards')) headers.splice(1, 0, { name: 'Max-Forwards', value: '70' });
    const bytes = serializeSipMessage({ kind: 'request', method: req.method, uri: req.uri, headers, body: req.body ?? Buffer.alloc(0) });

    let resolve!: (r: SipResponse) => void;
    const promise = new Promise<SipResponse>((r) => (resolve = r));
    const tx: ClientTx = { method: req.method.toUpperCase(), promise, resolve, timers: [], proceeding: false };
    clients.set(branch, tx);
    const fail = (e: Error) => finish(branch, synthetic(503, `Service Unavailable (${e.message})`));
    transport.send(bytes, dest).catch(fail);
    // Timer F: the transaction gives up and the TU sees 408 (RFC 3261 17.1.2.2).
    tx.timers.push(setTimeout(() => finish(branch, synthetic(408, 'Request Timeout (no final response)')), timerF));
    if (dest.transport === 'udp') {
      // Timer E: T1, doubling up to T2; once a provisional arrived, every T2.
      const retransmit = (interval: number) => {
        tx.timers.push(
          setTimeout(() => {
            if (!clients.has(branch)) return;
            transport.send(bytes, dest).catch(fail);
            retransmit(tx.proceeding ? t2 : Math.min(2 * interval, t2));
          }, tx.proceeding ? t2 : interval),
        );
      };
      retransmit(t1);
    }
    return promise;
  }

  /** RFC 3261 8.2.6: a response carrying the request's Via (with received/rport), From, To (+tag), Call-ID, CSeq. */
  function buildResponse(req: SipRequest, flow: Flow, spec: ResponseSpec, toTag: string): Buffer {
    const vias = getHeaders(req.headers, 'Via');
    const top = parseVia(vias[0])!;
    if (top.host !== flow.remote.host) top.params.received = flow.remote.host;
    if ('rport' in top.params) top.params.rport = String(flow.remote.port); // RFC 3581 4
    const to = getHeader(req.headers, 'To') ?? '';
    const headers: SipHeader[] = [
      ...[formatVia(top), ...vias.slice(1)].map((value) => ({ name: 'Via', value })),
      { name: 'From', value: getHeader(req.headers, 'From') ?? '' },
      { name: 'To', value: parseNameAddrParams(to)?.params.tag !== undefined ? to : `${to};tag=${toTag}` },
      { name: 'Call-ID', value: getHeader(req.headers, 'Call-ID') ?? '' },
      { name: 'CSeq', value: getHeader(req.headers, 'CSeq') ?? '' },
      ...(spec.headers ?? []),
    ];
    return serializeSipMessage({ kind: 'response', status: spec.status, reason: spec.reason ?? statusReason(spec.status), headers, body: spec.body ?? Buffer.alloc(0) });
  }

  /** Where a response goes: the TCP connection, or the UDP source when rport was asked (RFC 3581), else Via port. */
  function responseDest(req: SipRequest, flow: Flow) {
    const top = parseVia(getHeader(req.headers, 'Via') ?? '')!;
    const port = flow.transport === 'tcp' || 'rport' in top.params ? flow.remote.port : (top.port ?? 5060);
    return { host: flow.remote.host, port, transport: flow.transport };
  }

  async function onRequest(req: SipRequest, flow: Flow) {
    if (req.method === 'ACK') return; // only INVITE transactions are ACKed; we run none
    const via = parseVia(getHeader(req.headers, 'Via') ?? '');
    if (!via) return o.log?.warn({ remote: flow.remote }, 'SIP request without a usable Via dropped');
    const cseq = parseCSeq(getHeader(req.headers, 'CSeq') ?? '');
    const key = `${via.params.branch ?? ''}|${via.host}:${via.port ?? ''}|${req.method}`;
    const existing = servers.get(key);
    if (existing) {
      // A retransmission: absorbed; the last response is sent again (17.2.2).
      if (existing.response) transport.send(existing.response, existing.dest, flow.socket).catch(() => {});
      return;
    }
    const tx: ServerTx = { flow, dest: responseDest(req, flow) };
    servers.set(key, tx);
    const toTag = randomBytes(6).toString('hex');
    let spec: ResponseSpec;
    const missing = ['From', 'To', 'Call-ID'].filter((h) => !getHeader(req.headers, h));
    if (missing.length || !cseq || cseq.method !== req.method.toUpperCase()) {
      spec = { status: 400, reason: `Bad Request (${missing.length ? `missing ${missing.join(', ')}` : 'bad CSeq'})` };
    } else if (!handler) {
      spec = { status: 501 };
    } else {
      try {
        spec = await handler(req, { transport: flow.transport, remote: flow.remote });
      } catch (e) {
        o.log?.warn({ error: (e as Error).message, method: req.method }, 'SIP request handler failed');
        spec = { status: 500 };
      }
    }
    tx.response = buildResponse(req, flow, spec, toTag);
    if (!closed) await transport.send(tx.response, tx.dest, flow.socket).catch((e: Error) => o.log?.warn({ error: e.message }, 'SIP response not sent'));
    // Timer J: keep absorbing retransmissions for 64*T1 on UDP; 0 on reliable transports.
    setTimeout(() => servers.delete(key), flow.transport === 'udp' ? 64 * t1 : 0).unref();
  }

  return {
    host: o.host,
    get port() {
      return transport.port;
    },
    sendRequest,
    onRequest(h) {
      handler = h;
    },
    async close() {
      closed = true;
      for (const branch of [...clients.keys()]) finish(branch, synthetic(503, 'Service Unavailable (endpoint closed)'));
      await transport.close();
    },
  };
}

export type { SipMessage };
