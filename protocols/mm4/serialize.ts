import { serializeMimeEntity } from '../mime/entity.js';
import { encodeHeaderValue, formatRfc5322Date } from '../mime/headers.js';
import type { Mm4Pdu } from './pdu.js';
import { H } from './types.js';

const yesNo = (b: boolean) => (b ? 'Yes' : 'No');

/**
 * Writes an MM4 PDU strictly (23.140 8.4): CRLF, RFC 5322 headers first, then the X-Mms-* block
 * in a fixed order; ids quoted when the peer quoted them; non-ASCII Subject RFC 2047-encoded.
 */
export function serializeMm4(pdu: Mm4Pdu): Buffer {
  if (!pdu.date) throw new TypeError('serializeMm4: date is required (RFC 5322 3.6)');
  const id = (v: string) => (pdu.idsQuoted ? `"${v}"` : v);
  const h: [string, string | undefined][] = [
    ['From', pdu.from],
    ['To', pdu.to.join(', ')],
  ];
  if (pdu.type === 'MM4_forward.REQ' && pdu.cc.length) h.push(['Cc', pdu.cc.join(', ')]);
  h.push(['Sender', pdu.sender], ['Date', formatRfc5322Date(pdu.date)]);
  if (pdu.type === 'MM4_forward.REQ' && pdu.subject !== undefined) h.push(['Subject', encodeHeaderValue(pdu.subject)]);
  h.push(['Message-ID', pdu.rfc822MessageId], ['MIME-Version', '1.0']);
  h.push(
    [H.version, pdu.version || '6.16.0'],
    [H.type, pdu.type],
    [H.transactionId, id(pdu.transactionId)],
    [H.messageId, id(pdu.messageId)],
  );

  switch (pdu.type) {
    case 'MM4_forward.REQ':
      h.push(
        [H.ackRequest, yesNo(pdu.ackRequest)],
        [H.originatorSystem, pdu.originatorSystem],
        [H.deliveryReport, yesNo(pdu.deliveryReport)],
        [
          H.originatorDeliveryReport,
          pdu.originatorDeliveryReport === undefined ? undefined : yesNo(pdu.originatorDeliveryReport),
        ],
        [H.readReply, yesNo(pdu.readReply)],
        [H.messageClass, pdu.messageClass],
        [H.priority, pdu.priority],
        [H.senderVisibility, pdu.senderVisibility],
        [
          H.expiry,
          pdu.expiry
            ? 'at' in pdu.expiry
              ? formatRfc5322Date(pdu.expiry.at)
              : String(pdu.expiry.relativeSeconds)
            : undefined,
        ],
        [H.forwardCounter, pdu.forwardCounter === undefined ? undefined : String(pdu.forwardCounter)],
        [H.contentClass, pdu.contentClass],
        [H.adaptationAllowed, pdu.adaptationAllowed === undefined ? undefined : yesNo(pdu.adaptationAllowed)],
      );
      break;
    case 'MM4_delivery_report.REQ':
      h.push(
        [H.ackRequest, yesNo(pdu.ackRequest)],
        [H.originatorSystem, pdu.originatorSystem],
        [
          H.forwardToOriginatorUa,
          pdu.forwardToOriginatorUa === undefined ? undefined : yesNo(pdu.forwardToOriginatorUa),
        ],
        [H.mmStatus, pdu.mmStatus],
        [H.mmStatusExtension, pdu.mmStatusExtension],
        [H.statusText, pdu.statusText === undefined ? undefined : encodeHeaderValue(pdu.statusText)],
      );
      break;
    case 'MM4_read_reply_report.REQ':
      h.push(
        [H.ackRequest, yesNo(pdu.ackRequest)],
        [H.originatorSystem, pdu.originatorSystem],
        [H.readStatus, pdu.readStatus],
        [H.statusText, pdu.statusText === undefined ? undefined : encodeHeaderValue(pdu.statusText)],
      );
      break;
    default:
      h.push(
        [H.requestStatus, pdu.requestStatus],
        [H.statusText, pdu.statusText === undefined ? undefined : encodeHeaderValue(pdu.statusText)],
      );
  }
  for (const x of pdu.extraHeaders) h.push([x.name, x.value]);
  const head = h
    .filter((x): x is [string, string] => x[1] !== undefined && x[1] !== '')
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n');

  if (pdu.type === 'MM4_forward.REQ')
    return Buffer.concat([Buffer.from(head + '\r\n'), serializeMimeEntity(pdu.content)]);
  // .RES and reports carry no MM content (23.140 8.4.1-8.4.3).
  return Buffer.from(
    `${head}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n`,
  );
}
