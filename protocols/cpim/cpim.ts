/**
 * message/cpim (RFC 3862) with IMDN headers (RFC 5438). Pure. CPIM header order is kept; the
 * namespace prefix is local to each message, so IMDN headers are found through the
 * `NS` header (RFC 3862), never by the literal `imdn.` prefix.
 */
import { serializeImdn, type ImdnNotification } from './imdn.js';

export interface CpimHeader {
  name: string;
  value: string;
}

export interface CpimMessage {
  headers: CpimHeader[];
  content: { headers: CpimHeader[]; body: Buffer };
}

export const IMDN_NS = 'urn:ietf:params:imdn';
export type Disposition = 'positive-delivery' | 'negative-delivery' | 'display' | 'processing';
const DISPOSITIONS: readonly Disposition[] = ['positive-delivery', 'negative-delivery', 'display', 'processing'];

const MAX_CPIM_BYTES = 1024 * 1024;
const MAX_HEADERS = 100;

function readSection(text: string, what: string): CpimHeader[] | string {
  const out: CpimHeader[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line) continue;
    if (/^[ \t]/.test(line) && out.length) {
      out[out.length - 1].value += ` ${line.trim()}`; // MIME headers may fold; CPIM ones should not
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return `malformed ${what} header line '${line.slice(0, 40)}'`;
    out.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
    if (out.length > MAX_HEADERS) return `too many ${what} headers`;
  }
  return out;
}

function nextBlankLine(buf: Buffer, from: number): { at: number; len: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n', from);
  const lf = buf.indexOf('\n\n', from);
  if (crlf < 0 && lf < 0) return undefined;
  return crlf >= 0 && (lf < 0 || crlf <= lf) ? { at: crlf, len: 4 } : { at: lf, len: 2 };
}

/** Parses a CPIM body: CPIM headers, blank line, MIME headers, blank line, content. Never throws. */
export function parseCpim(raw: Buffer): { ok: true; message: CpimMessage } | { ok: false; error: string } {
  if (raw.length > MAX_CPIM_BYTES) return { ok: false, error: `CPIM message larger than ${MAX_CPIM_BYTES} bytes` };
  const first = nextBlankLine(raw, 0);
  if (!first) return { ok: false, error: 'no blank line after the CPIM headers' };
  const headers = readSection(raw.subarray(0, first.at).toString('utf8'), 'CPIM');
  if (typeof headers === 'string') return { ok: false, error: headers };
  if (!headers.length) return { ok: false, error: 'no CPIM headers' };
  const startMime = first.at + first.len;
  const second = nextBlankLine(raw, startMime);
  // A content with MIME headers but no body still ends its header block (RFC 3862 3.1).
  const mimeEnd = second ? second.at : raw.length;
  const mime = readSection(raw.subarray(startMime, mimeEnd).toString('utf8'), 'MIME');
  if (typeof mime === 'string') return { ok: false, error: mime };
  if (!mime.some((h) => h.name.toLowerCase() === 'content-type'))
    return { ok: false, error: 'encapsulated Content-Type missing' };
  let body = second ? raw.subarray(second.at + second.len) : Buffer.alloc(0);
  const cl = mime.find((h) => h.name.toLowerCase() === 'content-length')?.value;
  if (cl !== undefined) {
    if (!/^\d+$/.test(cl)) return { ok: false, error: `bad encapsulated Content-Length '${cl}'` };
    if (Number(cl) > body.length) return { ok: false, error: `content shorter than its Content-Length ${cl}` };
    body = body.subarray(0, Number(cl));
  }
  return { ok: true, message: { headers, content: { headers: mime, body: Buffer.from(body) } } };
}

/** CRLF; an encapsulated Content-Length, when present, is rewritten to the body's byte length. */
export function serializeCpim(m: CpimMessage): Buffer {
  const cpim = m.headers.map((h) => `${h.name}: ${h.value}`).join('\r\n');
  const mime = m.content.headers.map((h) =>
    h.name.toLowerCase() === 'content-length' ? `${h.name}: ${m.content.body.length}` : `${h.name}: ${h.value}`,
  );
  return Buffer.concat([Buffer.from(`${cpim}\r\n\r\n${mime.join('\r\n')}\r\n\r\n`, 'utf8'), m.content.body]);
}

/**
 * `NS: <prefix> <urn>` (RFC 3862 5.3): the prefix (possibly empty, no whitespace) before the first
 * `<`, the URN up to the next `>`. Read with indexOf, not a regex: a header value can be close to
 * MAX_CPIM_BYTES long (folded lines), and `^\s*([^\s<]*)\s*<` backtracks quadratically on spaces.
 */
function parseNsHeader(v: string): { prefix: string; urn: string } | undefined {
  const lt = v.indexOf('<');
  if (lt < 0) return undefined;
  const gt = v.indexOf('>', lt + 1);
  if (gt <= lt + 1) return undefined;
  const prefix = v.slice(0, lt).trim();
  if (/\s/.test(prefix)) return undefined;
  return { prefix, urn: v.slice(lt + 1, gt) };
}

/** Prefixes declared for a namespace URN by `NS: <prefix> <urn>` headers. */
function prefixesFor(m: CpimMessage, urn: string): string[] {
  return m.headers
    .filter((h) => h.name.toLowerCase() === 'ns')
    .flatMap((h) => {
      const ns = parseNsHeader(h.value);
      return ns && ns.urn.trim() === urn ? [ns.prefix] : [];
    });
}

/** Values of a header; with `nsUrn`, of `<prefix>.<name>` for any prefix bound to that URN. */
export function cpimHeaders(m: CpimMessage, name: string, nsUrn?: string): string[] {
  const names = nsUrn
    ? prefixesFor(m, nsUrn).map((p) => (p ? `${p}.${name}` : name).toLowerCase())
    : [name.toLowerCase()];
  return m.headers.filter((h) => names.includes(h.name.toLowerCase())).map((h) => h.value);
}

export function cpimHeader(m: CpimMessage, name: string, nsUrn?: string): string | undefined {
  return cpimHeaders(m, name, nsUrn)[0];
}

/** RFC 3339 with milliseconds in UTC, as CPM clients write DateTime. */
const rfc3339 = (d: Date) => d.toISOString();

/** A CPIM message as the IWF sends it in pager mode (RFC 3862 with the RFC 5438 headers). */
export function buildCpimMessage(o: {
  from: string;
  to: string;
  dateTime: Date;
  subject?: string;
  imdnMessageId: string;
  disposition?: Disposition[];
  contentType: string;
  body: Buffer;
  extraContentHeaders?: CpimHeader[];
}): CpimMessage {
  const headers: CpimHeader[] = [
    { name: 'From', value: `<${o.from}>` },
    { name: 'To', value: `<${o.to}>` },
    { name: 'DateTime', value: rfc3339(o.dateTime) },
  ];
  if (o.subject !== undefined) headers.push({ name: 'Subject', value: o.subject.replace(/[\r\n]+/g, ' ') });
  headers.push({ name: 'NS', value: `imdn <${IMDN_NS}>` }, { name: 'imdn.Message-ID', value: o.imdnMessageId });
  if (o.disposition?.length) headers.push({ name: 'imdn.Disposition-Notification', value: o.disposition.join(', ') });
  return {
    headers,
    content: {
      headers: [
        { name: 'Content-Type', value: o.contentType },
        ...(o.extraContentHeaders ?? []),
        { name: 'Content-Length', value: String(o.body.length) },
      ],
      body: o.body,
    },
  };
}

/**
 * An IMDN as CPIM (RFC 5438 7.2.1.1): From/To of the notifier and the original sender, its own
 * imdn.Message-ID and no notification requested, content message/imdn+xml with
 * Content-Disposition: notification.
 */
export function buildImdnCpim(o: {
  from: string;
  to: string;
  dateTime: Date;
  imdnMessageId: string;
  notification: ImdnNotification;
}): CpimMessage {
  return buildCpimMessage({
    from: o.from,
    to: o.to,
    dateTime: o.dateTime,
    imdnMessageId: o.imdnMessageId,
    contentType: 'message/imdn+xml',
    body: Buffer.from(serializeImdn(o.notification), 'utf8'),
    extraContentHeaders: [{ name: 'Content-Disposition', value: 'notification' }],
  });
}

/**
 * The URI inside the first non-empty `<...>`, else the trimmed value: what `/<([^>]+)>/` finds,
 * in linear time (that regex is quadratic on a long run of `<` without `>`).
 */
export function uriOf(v: string): string {
  for (let from = 0; ;) {
    const lt = v.indexOf('<', from);
    const gt = lt < 0 ? -1 : v.indexOf('>', lt + 1);
    if (gt < 0) return v.trim();
    if (gt > lt + 1) return v.slice(lt + 1, gt);
    from = gt + 1;
  }
}

/** The IMDN-relevant fields of a received CPIM message (RFC 5438 6). */
export function readImdnFields(m: CpimMessage): {
  messageId?: string;
  disposition: Disposition[];
  dateTime?: Date;
  from?: string;
  to?: string[];
} {
  const dispo = (cpimHeader(m, 'Disposition-Notification', IMDN_NS) ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s): s is Disposition => DISPOSITIONS.includes(s as Disposition));
  const dt = cpimHeader(m, 'DateTime');
  const date = dt ? new Date(dt) : undefined;
  const from = cpimHeader(m, 'From');
  return {
    messageId: cpimHeader(m, 'Message-ID', IMDN_NS),
    disposition: dispo,
    dateTime: date && !Number.isNaN(date.getTime()) ? date : undefined,
    from: from ? uriOf(from) : undefined,
    to: cpimHeaders(m, 'To').map(uriOf),
  };
}
