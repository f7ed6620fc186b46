/** IMDN documents, message/imdn+xml (RFC 5438 section 7). Pure; the reader is protocols/cpim/xml.ts. */
import { child, childText, readXml } from './xml.js';

interface ImdnBase {
  messageId: string;
  /** The DateTime of the original message, as it was written. */
  datetime: string;
  recipientUri?: string;
  originalRecipientUri?: string;
  subject?: string;
}

export type ImdnNotification =
  | (ImdnBase & { kind: 'delivery'; status: 'delivered' | 'failed' | 'forbidden' | 'error' })
  | (ImdnBase & { kind: 'display'; status: 'displayed' | 'forbidden' | 'error' })
  | (ImdnBase & { kind: 'processing'; status: 'processed' | 'stored' | 'forbidden' | 'error' });

const STATUSES = {
  delivery: ['delivered', 'failed', 'forbidden', 'error'],
  display: ['displayed', 'forbidden', 'error'],
  processing: ['processed', 'stored', 'forbidden', 'error'],
} as const;

const MAX_XML = 64 * 1024;
/** RFC 5438 nests 4 deep (imdn, *-notification, status, delivered); room for extensions. */
const MAX_DEPTH = 16;
const IMDN_XML_NS = 'urn:ietf:params:xml:ns:imdn';
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function serializeImdn(n: ImdnNotification): string {
  const opt = (tag: string, v?: string) => (v === undefined ? '' : `  <${tag}>${esc(v)}</${tag}>\n`);
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<imdn xmlns="urn:ietf:params:xml:ns:imdn">\n' +
    opt('message-id', n.messageId) +
    opt('datetime', n.datetime) +
    opt('recipient-uri', n.recipientUri) +
    opt('original-recipient-uri', n.originalRecipientUri) +
    opt('subject', n.subject) +
    `  <${n.kind}-notification>\n    <status>\n      <${n.status}/>\n    </status>\n  </${n.kind}-notification>\n</imdn>\n`
  );
}

/**
 * Parses an IMDN (RFC 5438 7.2): a well-formed document whose root is `imdn` in the
 * urn:ietf:params:xml:ns:imdn namespace, under any prefix. Elements of other namespaces are
 * ignored (the schema's extension points). Refuses DOCTYPE (no DTD, entities or XXE), documents
 * over 64 KiB and deep nesting. Never throws.
 */
export function parseImdn(xml: string): { ok: true; notification: ImdnNotification } | { ok: false; error: string } {
  const doc = readXml(xml, { maxChars: MAX_XML, maxDepth: MAX_DEPTH });
  if (!doc.ok) return doc;
  const root = doc.root;
  if (root.local !== 'imdn' || root.uri !== IMDN_XML_NS)
    return { ok: false, error: `no <imdn> root element in ${IMDN_XML_NS}` };
  const text = (tag: string) => childText(root, IMDN_XML_NS, tag);
  const messageId = text('message-id');
  const datetime = text('datetime');
  if (!messageId) return { ok: false, error: 'missing <message-id>' };
  if (!datetime) return { ok: false, error: 'missing <datetime>' };
  for (const kind of ['delivery', 'display', 'processing'] as const) {
    const block = child(root, IMDN_XML_NS, `${kind}-notification`);
    if (!block) continue;
    const statusEl = child(block, IMDN_XML_NS, 'status');
    const status = statusEl?.children.find((c) => c.uri === IMDN_XML_NS)?.local;
    if (!status || !(STATUSES[kind] as readonly string[]).includes(status))
      return { ok: false, error: `bad ${kind} status '${status?.slice(0, 40) ?? ''}'` };
    const base = {
      messageId,
      datetime,
      recipientUri: text('recipient-uri'),
      originalRecipientUri: text('original-recipient-uri'),
      subject: text('subject'),
    };
    const clean = Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined)) as unknown as ImdnBase;
    return { ok: true, notification: { ...clean, kind, status } as ImdnNotification };
  }
  return { ok: false, error: 'no delivery, display or processing notification' };
}
