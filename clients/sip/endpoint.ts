import { randomBytes } from 'node:crypto';
import { formatVia } from '../../protocols/sip/headers.js';
import { getHeader, serializeSipMessage, type SipHeader, type SipResponse } from '../../protocols/sip/message.js';
import type { ResponseSpec } from '../../protocols/sip/response.js';
import { ClientTransactions, syntheticResponse } from './client-transactions.js';
import { realClock, type Clock } from './clock.js';
import { ServerTransactions, type RequestHandler } from './server-transactions.js';
import { SipTransport, type TransportLog, type TransportName } from './transport.js';

export type { RequestHandler, ResponseSpec, TransportName };

export interface SipEndpointOptions {
  host: string;
  /** 0 = ephemeral; UDP and TCP bind the same port number. */
  port: number;
  /** Default UDP and TCP, plus TLS when `tls` is given. */
  transports?: TransportName[];
  /**
   * SIP over TLS (RFC 3261 26.2, RFC 5630): a listener at `listen` with `cert`/`key` (port 0:
   * ephemeral), and outgoing TLS verified against `ca` (else the system roots).
   */
  tls?: { listen?: { host: string; port: number }; cert?: string; key?: string; ca?: string };
  /** Host written in Via sent-by; defaults to `host` (127.0.0.1 when bound to a wildcard). */
  publicHost?: string;
  /**
   * RFC 3261 17.1.2.2 defaults: T1 500 ms, T2 4 s, T4 5 s. Timer F = Timer J = 64*T1. T4 (Timer K)
   * is accepted but unused: no Completed state is kept on the client side (see ClientTransactions).
   */
  timers?: { t1?: number; t2?: number; t4?: number };
  maxMessageBytes?: number;
  /** Inbound TCP/TLS connections one source IP may hold open (sip.maxTcpConnectionsPerSource); default no limit. */
  maxConnectionsPerSource?: number;
  /**
   * Source address of outgoing TCP connections; default `host` (unless a wildcard). A core that
   * tells the IWF from clients by source address must see the address it knows us by.
   */
  sourceAddress?: string;
  /**
   * Path MTU toward the next hop, when known. RFC 3261 18.1.1: a request within 200 bytes of it,
   * or larger than 1300 bytes when it is unknown, goes over TCP even when UDP was asked for.
   */
  pathMtu?: number;
  log?: TransportLog;
  /** Where the transaction timers and the connect timeout run; default the real clock (tests pass a fake one). */
  clock?: Clock;
  /**
   * Counts final responses (worker/metrics.ts): `sent` by our server transactions, `received` for
   * our requests, `local` when our client transaction made the answer up (Timer F 408, transport 503).
   */
  metrics?: { sipResponse(direction: 'sent' | 'received' | 'local', method: string, status: number): void };
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

export interface SipDestination {
  host: string;
  port: number;
  transport: TransportName;
}

export interface SipEndpoint {
  readonly host: string;
  readonly port: number;
  /** The TLS listener's port; 0 when there is none. */
  readonly tlsPort: number;
  /**
   * Sends a request in a non-INVITE client transaction and resolves with its final response:
   * received, or synthetic 408 (Timer F) / 503 (transport error, lost connection, closed
   * endpoint). Never rejects for network conditions; rejects with a TypeError for a request
   * that cannot be written (bad branch, CR/LF in a header value).
   */
  sendRequest(req: OutgoingRequest, dest: SipDestination): Promise<SentResponse>;
  /** Sets the handler for incoming requests (until then they get 501). */
  onRequest(handler: RequestHandler): void;
  /** Closes the UDP socket, the TCP listener and every TCP connection; pending requests get 503. */
  close(): Promise<void>;
}

/**
 * A final response plus the transport the request went over: `tcp` for a `udp` destination when
 * RFC 3261 18.1.1 moved it for its size, so a log or trace names the transport really used.
 */
export type SentResponse = SipResponse & { transport: TransportName };

const MAGIC_COOKIE = 'z9hG4bK';

/** RFC 3261 18.1.1: the largest request sent over UDP (1300 bytes, or 200 below a known path MTU). */
export function maxUdpRequestBytes(pathMtu?: number): number {
  return pathMtu === undefined ? 1300 : Math.min(1300, pathMtu - 200);
}

/**
 * A focused RFC 3261 endpoint: transport (section 18) plus non-INVITE client (17.1.2) and server
 * (17.2.2) transactions, for pager-mode MESSAGE (RFC 3428) and OPTIONS.
 */
export async function createSipEndpoint(o: SipEndpointOptions): Promise<SipEndpoint> {
  const t1 = o.timers?.t1 ?? 500;
  const t2 = o.timers?.t2 ?? 4000;
  const clock = o.clock ?? realClock;
  const transports = o.transports ?? (o.tls ? ['udp', 'tcp', 'tls'] : ['udp', 'tcp']);
  const transport = new SipTransport(
    {
      host: o.host,
      port: o.port,
      transports,
      ...(o.tls ? { tls: o.tls } : {}),
      maxMessageBytes: o.maxMessageBytes,
      maxConnectionsPerSource: o.maxConnectionsPerSource,
      connectTimeoutMs: 64 * t1,
      sourceAddress: o.sourceAddress ?? (o.host === '0.0.0.0' || o.host === '::' ? undefined : o.host),
      clock,
      log: o.log,
    },
    {
      message: (m, flow) => {
        if (m.kind === 'response') return clients.onResponse(m);
        // A request must never take the process down: whatever escapes is logged and dropped.
        servers
          .onRequest(m, flow)
          .catch((e: Error) =>
            o.log?.warn({ remote: flow.remote, method: m.method, error: e.message }, 'SIP request handling failed'),
          );
      },
      invalid: (e, flow) => servers.onInvalid(e, flow),
      closed: (socket, reason) => clients.onConnectionClosed(socket, reason),
    },
  );
  const clients = new ClientTransactions(transport, { t1, t2 }, clock);
  const servers = new ServerTransactions(
    transport,
    { t1, log: o.log, onAnswer: (method, status) => o.metrics?.sipResponse('sent', method, status) },
    clock,
  );
  await transport.start();
  const sentBy = o.publicHost ?? (o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host);
  let closed = false;

  const udpLimit = maxUdpRequestBytes(o.pathMtu);
  const canTcp = transports.includes('tcp');

  async function sendRequest(req: OutgoingRequest, dest: SipDestination): Promise<SentResponse> {
    const used = { transport: dest.transport };
    const res = await sendOne(req, dest, used);
    // A synthetic response has no headers (syntheticResponse); a received one has at least a Via.
    o.metrics?.sipResponse(res.headers.length ? 'received' : 'local', req.method, res.status);
    // On the response itself: a retransmitted request shares its transaction's one response object.
    return Object.assign(res, { transport: used.transport });
  }

  async function sendOne(
    req: OutgoingRequest,
    dest: SipDestination,
    used: { transport: TransportName },
  ): Promise<SipResponse> {
    const branch = req.branch ?? `${MAGIC_COOKIE}${randomBytes(12).toString('base64url')}`;
    if (!branch.startsWith(MAGIC_COOKIE) || !/^[A-Za-z0-9.!%*_+`'~-]+$/.test(branch))
      throw new TypeError(`branch '${branch}' must be a token starting with ${MAGIC_COOKIE}`);
    let bytes = serializeRequest(req, branch, dest.transport);
    let target = dest;
    if (dest.transport === 'udp' && bytes.length > udpLimit) {
      // RFC 3261 18.1.1: too large for UDP, so TCP, and the top Via says so. Only UDP is switched:
      // a TLS request stays on TLS whatever its size (a switch to TCP would drop its protection).
      if (!canTcp)
        return syntheticResponse(
          503,
          `Service Unavailable (request of ${bytes.length} bytes needs TCP, RFC 3261 18.1.1; TCP is not enabled)`,
        );
      target = { ...dest, transport: 'tcp' };
      used.transport = 'tcp';
      bytes = serializeRequest(req, branch, 'tcp');
    }
    if (closed) return syntheticResponse(503, 'Service Unavailable (endpoint closed)');
    const res = await clients.start(branch, req.method, bytes, target);
    if (target !== dest && res.status === 503 && res.headers.length === 0) {
      // A synthetic 503 (no TCP connection): say why TCP was needed, so the failure is clear.
      const cause = res.reason.replace(/^Service Unavailable \((.*)\)$/, '$1');
      return syntheticResponse(
        503,
        `Service Unavailable (request of ${bytes.length} bytes needs TCP, RFC 3261 18.1.1: ${cause})`,
      );
    }
    return res;
  }

  function serializeRequest(req: OutgoingRequest, branch: string, via: TransportName): Buffer {
    // sent-by names where answers come back to: the TLS listener for TLS (RFC 3261 18.2.2; SIP/2.0/TLS, RFC 5630 3.1.2).
    const top = formatVia({
      transport: via.toUpperCase(),
      host: sentBy,
      port: via === 'tls' && transport.tlsPort ? transport.tlsPort : transport.port,
      params: { branch, rport: '' },
    });
    const headers = [{ name: 'Via', value: top }, ...req.headers.filter((h) => !/^(via|v)$/i.test(h.name))];
    if (getHeader(headers, 'Max-Forwards') === undefined) headers.splice(1, 0, { name: 'Max-Forwards', value: '70' });
    return serializeSipMessage({
      kind: 'request',
      method: req.method,
      uri: req.uri,
      headers,
      body: req.body ?? Buffer.alloc(0),
    });
  }

  return {
    host: o.host,
    get port() {
      return transport.port;
    },
    get tlsPort() {
      return transport.tlsPort;
    },
    sendRequest,
    onRequest(h) {
      servers.handler = h;
    },
    async close() {
      closed = true;
      servers.closed = true;
      clients.closeAll();
      await transport.close();
    },
  };
}
