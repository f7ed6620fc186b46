import { formatVia, parseNameAddrParams, parseVia, splitList } from './headers.js';
import { getHeader, getHeaders, type SipHeader, type SipRequest, type SipResponse } from './message.js';
import { statusReason } from './status.js';

/** What a request handler answers; the rest of the response is derived from the request. */
export interface ResponseSpec {
  status: number;
  /** Defaults to the standard phrase (statusReason). */
  reason?: string;
  /** Extra headers; Via, From, To, Call-ID, CSeq and Content-Length given here are ignored. */
  headers?: SipHeader[];
  body?: Buffer;
}

/** Where a request came from (the packet source, not what its Via claims). */
export interface SipSource {
  host: string;
  port: number;
}

const DERIVED = new Set(['via', 'from', 'to', 'call-id', 'cseq', 'content-length', 'v', 'f', 't', 'i', 'l']);

/**
 * The top Via as the response carries it: `received` when the source address differs from
 * sent-by (RFC 3261 18.2.1), and, when `rport` was asked, the source port plus `received` even if
 * equal (RFC 3581 4). Undefined when the top Via cannot be read.
 */
function stampedVias(req: SipRequest, source: SipSource): string[] | undefined {
  const vias = getHeaders(req.headers, 'Via');
  const [top, ...sameLine] = splitList(vias[0] ?? '');
  const via = top === undefined ? undefined : parseVia(top);
  if (!via) return undefined;
  const rport = Object.hasOwn(via.params, 'rport');
  if (rport || via.host.toLowerCase() !== source.host.toLowerCase()) via.params.received = source.host;
  if (rport) via.params.rport = String(source.port);
  return [[formatVia(via), ...sameLine].join(', '), ...vias.slice(1)];
}

/**
 * Builds a response to `req` (RFC 3261 8.2.6): all Via values in order (the top one stamped),
 * From, Call-ID, CSeq and Timestamp copied, To copied with `toTag` added when it has none (keep
 * the tag stable per transaction so retransmitted responses are identical). Headers the request
 * lacks are left out, so even a malformed request can get its 400. Undefined when the top Via
 * cannot be read: then nobody knows where a response would go.
 */
export function createResponse(
  req: SipRequest,
  spec: ResponseSpec,
  toTag: string,
  source: SipSource,
): SipResponse | undefined {
  const vias = stampedVias(req, source);
  if (!vias) return undefined;
  const copy = (name: string, value = getHeader(req.headers, name)) => (value === undefined ? [] : [{ name, value }]);
  const to = getHeader(req.headers, 'To');
  // RFC 3261 8.2.6.2: a UAS adds a To tag to every response but 100 Trying when the request had none.
  const tagged =
    to === undefined || spec.status === 100 || parseNameAddrParams(to)?.params.tag !== undefined
      ? to
      : `${to};tag=${toTag}`;
  const headers: SipHeader[] = [
    ...vias.map((value) => ({ name: 'Via', value })),
    ...copy('From'),
    ...copy('To', tagged),
    ...copy('Call-ID'),
    ...copy('CSeq'),
    ...copy('Timestamp'),
    ...(spec.headers ?? []).filter((h) => !DERIVED.has(h.name.toLowerCase())),
  ];
  return {
    kind: 'response',
    status: spec.status,
    reason: spec.reason ?? statusReason(spec.status),
    headers,
    body: spec.body ?? Buffer.alloc(0),
  };
}

/**
 * Where a response to `req` goes when it cannot use the request's connection (RFC 3261 18.2.2):
 * the source address, with the source port when `rport` was asked over UDP (RFC 3581 4), else
 * the sent-by port (default 5060, 5061 over TLS: RFC 3261 18.2.2, 19.1.2).
 */
export function responseTarget(
  req: SipRequest,
  transport: 'udp' | 'tcp' | 'tls',
  source: SipSource,
): SipSource | undefined {
  const via = parseVia(getHeader(req.headers, 'Via') ?? '');
  if (!via) return undefined;
  const port =
    transport === 'udp' && Object.hasOwn(via.params, 'rport')
      ? source.port
      : (via.port ?? (transport === 'tls' ? 5061 : 5060));
  return { host: source.host, port };
}
