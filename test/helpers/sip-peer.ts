import { createSipEndpoint, type SipEndpoint } from '../../clients/sip/endpoint.js';
import { getHeader, type SipRequest } from '../../protocols/sip/message.js';

export interface SeenRequest {
  req: SipRequest;
  transport: 'udp' | 'tcp' | 'tls';
  callId: string;
  cseq: string;
}

/**
 * A SIP UAS standing in for the outbound proxy / CPM side, built on our own endpoint (SIPp covers
 * the independent-peer case). `answer` decides the status for each new request.
 */
export async function startSipPeer(answer: (req: SipRequest, n: number) => number | Promise<number> = () => 202) {
  const seen: SeenRequest[] = [];
  const endpoint: SipEndpoint = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 100, t2: 400 } });
  endpoint.onRequest(async (req, info) => {
    seen.push({
      req,
      transport: info.transport,
      callId: getHeader(req.headers, 'Call-ID') ?? '',
      cseq: getHeader(req.headers, 'CSeq') ?? '',
    });
    return { status: await answer(req, seen.length) };
  });
  return { port: endpoint.port, seen, close: () => endpoint.close() };
}
