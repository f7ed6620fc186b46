/** IMDN documents, message/imdn+xml (RFC 5438 section 7). Pure; a small tolerant reader. */

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
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const unesc = (s: string) =>
  s.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) =>
    e === 'lt'
      ? '<'
      : e === 'gt'
        ? '>'
        : e === 'quot'
          ? '"'
          : e === 'apos'
            ? "'"
            : e === 'amp'
              ? '&'
              : String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1))),
  );

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

/** Parses an IMDN. Refuses DOCTYPE and entity declarations (no XXE); namespace prefixes allowed. */
export function parseImdn(xml: string): { ok: true; notification: ImdnNotification } | { ok: false; error: string } {
  if (xml.length > MAX_XML) return { ok: false, error: `IMDN larger than ${MAX_XML} characters` };
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return { ok: false, error: 'DOCTYPE/ENTITY declarations are not allowed' };
  const doc = xml.replace(/<!--[\s\S]*?-->/g, '').replace(/<\?[\s\S]*?\?>/g, '');
  const P = '(?:[A-Za-z_][\\w.-]*:)?';
  if (!new RegExp(`<${P}imdn[\\s>]`).test(doc)) return { ok: false, error: 'no <imdn> root element' };
  const text = (tag: string) => {
    const m = new RegExp(`<${P}${tag}(?:\\s[^>]*)?>([^<]*)</${P}${tag}>`).exec(doc);
    return m ? unesc(m[1].trim()) : undefined;
  };
  const messageId = text('message-id');
  const datetime = text('datetime');
  if (!messageId) return { ok: false, error: 'missing <message-id>' };
  if (!datetime) return { ok: false, error: 'missing <datetime>' };
  for (const kind of ['delivery', 'display', 'processing'] as const) {
    const block = new RegExp(`<${P}${kind}-notification(?:\\s[^>]*)?>([\\s\\S]*?)</${P}${kind}-notification>`).exec(
      doc,
    );
    if (!block) continue;
    const status = new RegExp(`<${P}status(?:\\s[^>]*)?>\\s*<${P}([a-z-]+)\\s*/>`).exec(block[1])?.[1];
    if (!status || !(STATUSES[kind] as readonly string[]).includes(status))
      return { ok: false, error: `bad ${kind} status '${status ?? ''}'` };
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
