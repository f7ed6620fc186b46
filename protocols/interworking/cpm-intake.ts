import type { CpmToMmsInput } from '../../model/delivery.js';
import { parseCpmUri } from '../address/uri.js';
import { cpimHeader, parseCpim, readImdnFields, uriOf } from '../cpim/cpim.js';
import { FTHTTP_CONTENT_TYPE, parseFtHttp } from '../cpim/fthttp.js';
import { decodeCharset, parseContentType } from '../mime/headers.js';
import { splitList } from '../sip/headers.js';
import { getHeader, getHeaders, type SipHeader, type SipRequest } from '../sip/message.js';

export type CpmIntake =
  | { ok: true; input: Omit<CpmToMmsInput, 'mm4Ack' | 'reportWaitMs'>; recipientNumber?: string }
  | { ok: false; status: number; reason: string; headers?: SipHeader[] };

const refuse = (status: number, reason: string, headers?: SipHeader[]): CpmIntake => ({
  ok: false,
  status,
  reason,
  headers,
});

/**
 * Reads a pager-mode MESSAGE (RFC 3428 + CPIM, RFC 3862) into the cpmToMms input, or the
 * SIP answer that refuses it. The sender is the asserted identity (RFC 3325), preferring a tel URI
 * (docs/mms-addressing.md), never the CPIM From; the recipient is the Request-URI.
 */
export function readCpmMessage(req: SipRequest, receivedAt: Date): CpmIntake {
  const outer = parseContentType(getHeader(req.headers, 'Content-Type'));
  if (outer.mediaType !== 'message/cpim') {
    return refuse(415, 'Unsupported Media Type (message/cpim expected)', [{ name: 'Accept', value: 'message/cpim' }]);
  }
  const asserted = getHeaders(req.headers, 'P-Asserted-Identity')
    .flatMap(splitList)
    .map((raw) => ({ uri: uriOf(raw).trim(), parsed: parseCpmUri(raw) }))
    .filter((a) => a.parsed !== undefined);
  const sender =
    asserted.find((a) => a.parsed!.scheme === 'tel') ?? asserted.find((a) => a.parsed!.number) ?? asserted[0];
  if (!sender) return refuse(403, 'Forbidden (P-Asserted-Identity required)');
  const senderUri = sender.uri;

  const parsed = parseCpim(req.body);
  if (!parsed.ok) return refuse(400, `Bad Request (CPIM: ${parsed.error})`);
  const cpim = parsed.message;
  const inner = cpim.content.headers.find((h) => h.name.toLowerCase() === 'content-type')!.value;
  const innerType = parseContentType(inner);
  const imdn = readImdnFields(cpim);
  const recipient = parseCpmUri(req.uri);
  const text = innerType.mediaType.startsWith('text/')
    ? decodeCharset(cpim.content.body, innerType.params.charset ?? 'utf-8')
    : '';
  let file: CpmToMmsInput['cpm']['file'];
  if (innerType.mediaType === FTHTTP_CONTENT_TYPE) {
    const d = parseFtHttp(cpim.content.body.toString('utf8'));
    if (!d.ok) return refuse(400, `Bad Request (file transfer descriptor: ${d.error})`);
    if (!/^https?:\/\//i.test(d.descriptor.file.url))
      return refuse(400, 'Bad Request (file URL must be http or https)');
    file = d.descriptor.file;
  }
  return {
    ok: true,
    recipientNumber: recipient?.number,
    input: {
      receivedAt: receivedAt.toISOString(),
      cpm: {
        senderUri,
        recipientUri: req.uri,
        // Without imdn.Message-ID (RFC 5438 6.3 makes it mandatory only when IMDN is asked for),
        // the SIP Call-ID identifies the message; retransmissions keep it.
        imdnMessageId: imdn.messageId ?? `call-id:${getHeader(req.headers, 'Call-ID') ?? ''}`,
        disposition: imdn.disposition,
        dateTime: cpimHeader(cpim, 'DateTime'),
        subject: cpimHeader(cpim, 'Subject'),
        contentType: innerType.mediaType,
        sizeBytes: cpim.content.body.length,
        ...(file ? { file } : {}),
        conversationId: getHeader(req.headers, 'Conversation-ID'),
        contributionId: getHeader(req.headers, 'Contribution-ID'),
      },
      text,
    },
  };
}
