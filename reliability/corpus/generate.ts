/**
 * Writes the hostile-input corpus of R4 (run once; the files are committed):
 *   node --import tsx reliability/corpus/generate.ts
 * One folder per front-end input: mime/ and mm4/ (SMTP DATA on the MM4 port), sip/ (whole SIP
 * requests, `{{TRANSPORT}}`/`{{BRANCH}}` filled in when sent), cpim/ (CPIM bodies, RFC 3862),
 * imdn/ (IMDN XML, RFC 5438), fthttp/ (FT-over-HTTP descriptors, GSMA RCC.07 A.2.4), uri/
 * (Request-URIs), http/ (requests to the media server). manifest.json says per file what answer
 * is owed: `answer` (a protocol reply within the bound) or `any` (a datagram with nothing to answer
 * to: no Via, or not a request, RFC 3261 §18.3 / §16.3, may be dropped).
 * Deterministic: no randomness, so a regenerated corpus is byte-identical.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import * as prettier from 'prettier';

const DIR = fileURLToPath(new URL('.', import.meta.url));
type Kind = 'mime' | 'mm4' | 'sip' | 'cpim' | 'imdn' | 'fthttp' | 'uri' | 'http';
interface Entry {
  file: string;
  expect: 'answer' | 'any';
  /** Over TCP a close is an answer too: the Content-Length cannot frame the stream (RFC 3261 §18.3). */
  tcpClose?: true;
  note: string;
}
const manifest: Record<Kind, Entry[]> = {
  mime: [],
  mm4: [],
  sip: [],
  cpim: [],
  imdn: [],
  fthttp: [],
  uri: [],
  http: [],
};
const counters: Record<string, number> = {};
const ext: Record<Kind, string> = {
  mime: 'eml',
  mm4: 'eml',
  sip: 'sip',
  cpim: 'cpim',
  imdn: 'xml',
  fthttp: 'xml',
  uri: 'txt',
  http: 'http',
};

function add(
  kind: Kind,
  slug: string,
  content: string | Buffer,
  note: string,
  expect: 'answer' | 'any' = 'answer',
  tcpClose = false,
) {
  const n = (counters[kind] = (counters[kind] ?? 0) + 1);
  const file = `${String(n).padStart(3, '0')}-${slug}.${ext[kind]}`;
  writeFileSync(join(DIR, kind, file), typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
  manifest[kind].push({ file, expect, ...(tcpClose ? { tcpClose: true as const } : {}), note });
}

const CRLF = '\r\n';
const long = (n: number, c = 'a') => c.repeat(n);

// ---------------------------------------------------------------------------------------------
// MM4 (3GPP TS 23.140 §8.4.1 MM4_forward.REQ) with hostile headers or bodies

function mm4(
  o: { headers?: string[]; drop?: string[]; contentType?: string; cte?: string; body?: string; raw?: boolean } = {},
) {
  const base: [string, string][] = [
    ['From', '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs'],
    ['To', '+12025550199/TYPE=PLMN@mms.iwf.example.net'],
    ['Sender', 'system-user@mms.mnc001.mcc001.gprs'],
    ['Date', 'Tue, 04 Mar 2025 10:15:02 +0000'],
    ['Subject', 'corpus'],
    ['Message-ID', '<corpus@mms.mnc001.mcc001.gprs>'],
    ['MIME-Version', '1.0'],
    ['Content-Type', o.contentType ?? 'text/plain; charset=utf-8'],
    ['Content-Transfer-Encoding', o.cte ?? '8bit'],
    ['X-Mms-3GPP-MMS-Version', '6.16.0'],
    ['X-Mms-Message-Type', 'MM4_forward.REQ'],
    ['X-Mms-Transaction-ID', '"T-corpus"'],
    ['X-Mms-Message-ID', '"M-corpus"'],
    ['X-Mms-Ack-Request', 'Yes'],
    ['X-Mms-Originator-System', 'system-user@mms.mnc001.mcc001.gprs'],
    ['X-Mms-Delivery-Report', 'No'],
  ];
  const overridden = new Set((o.headers ?? []).map((h) => h.split(':')[0].toLowerCase()));
  const drop = new Set((o.drop ?? []).map((d) => d.toLowerCase()));
  const lines = base
    .filter(([k]) => !overridden.has(k.toLowerCase()) && !drop.has(k.toLowerCase()))
    .map(([k, v]) => `${k}: ${v}`);
  return [...lines, ...(o.headers ?? []), '', o.body ?? 'corpus text', ''].join(CRLF);
}

let idn = 0;
/** A unique X-Mms-Message-ID per file, so accepted ones are separate deliveries. */
const ids = () => {
  idn++;
  return [`X-Mms-Message-ID: "M-corpus-${idn}"`, `X-Mms-Transaction-ID: "T-corpus-${idn}"`];
};

function mime() {
  const nest = (depth: number) => {
    let body = 'Content-Type: text/plain\r\n\r\ninnermost\r\n';
    for (let i = depth; i > 0; i--)
      body = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${body}--b${i}--\r\n`;
    return body;
  };
  const deep = nest(100).split('\r\n\r\n');
  add(
    'mime',
    'nested-multipart-100',
    mm4({ headers: ids(), contentType: deep[0].replace('Content-Type: ', ''), body: deep.slice(1).join('\r\n\r\n') }),
    'multiparts nested 100 deep',
  );
  const deep1k = nest(1000).split('\r\n\r\n');
  add(
    'mime',
    'nested-multipart-1000',
    mm4({
      headers: ids(),
      contentType: deep1k[0].replace('Content-Type: ', ''),
      body: deep1k.slice(1).join('\r\n\r\n'),
    }),
    'multiparts nested 1000 deep',
  );
  add(
    'mime',
    'truncated-multipart',
    mm4({
      headers: ids(),
      contentType: 'multipart/mixed; boundary="x"',
      body: '--x\r\nContent-Type: text/plain\r\n\r\nhalf a part',
    }),
    'boundary never closed',
  );
  add(
    'mime',
    'no-boundary-param',
    mm4({ headers: ids(), contentType: 'multipart/mixed', body: '--x\r\n\r\na\r\n--x--' }),
    'multipart without boundary',
  );
  add(
    'mime',
    'empty-boundary',
    mm4({ headers: ids(), contentType: 'multipart/mixed; boundary=""', body: '--\r\n\r\na\r\n----' }),
    'empty boundary',
  );
  add(
    'mime',
    'boundary-200',
    mm4({
      headers: ids(),
      contentType: `multipart/mixed; boundary="${long(200, 'b')}"`,
      body: `--${long(200, 'b')}\r\n\r\na\r\n--${long(200, 'b')}--`,
    }),
    'boundary over RFC 2046 70 chars',
  );
  add(
    'mime',
    'boundary-in-body',
    mm4({
      headers: ids(),
      contentType: 'multipart/mixed; boundary="x"',
      body: '--x\r\nContent-Type: text/plain\r\n\r\n--x--x--x\r\n--x--',
    }),
    'boundary-like text',
  );
  add(
    'mime',
    'parts-5000',
    mm4({
      headers: ids(),
      contentType: 'multipart/mixed; boundary="p"',
      body:
        Array.from({ length: 5000 }, (_, i) => `--p\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`).join('') +
        '--p--',
    }),
    '5000 parts',
  );
  add(
    'mime',
    'base64-garbage',
    mm4({
      headers: ids(),
      contentType: 'multipart/mixed; boundary="p"',
      body: '--p\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!****____@@@@\r\n--p--',
    }),
    'invalid base64',
  );
  add(
    'mime',
    'qp-bad-escapes',
    mm4({ headers: ids(), cte: 'quoted-printable', body: '=ZZ=G1=\r\n=0=%%=' }),
    'quoted-printable bad escapes',
  );
  add(
    'mime',
    'cte-unknown',
    mm4({ headers: ids(), cte: 'x-uuencode-9000', body: 'begin 644 x\r\nend' }),
    'unknown transfer encoding',
  );
  for (const cs of [
    'utf-7',
    'x-unknown-charset',
    'iso-2022-jp',
    'utf-16',
    'utf-32be',
    'ebcdic-cp-us',
    '"\u0000"',
    long(300, 'c'),
  ]) {
    const body =
      cs === 'utf-16'
        ? Buffer.from('\ud800 lone surrogate', 'utf16le').toString('latin1')
        : cs === 'iso-2022-jp'
          ? '\x1b$B\x1b(J\x1b$@broken'
          : '+AGEAYgBj-';
    add(
      'mime',
      `charset-${cs.replace(/[^a-z0-9-]/gi, '_').slice(0, 20)}`,
      mm4({ headers: ids(), contentType: `text/plain; charset=${cs}`, body }),
      `odd charset ${cs.slice(0, 30)}`,
    );
  }
  add('mime', 'header-line-64k', mm4({ headers: [...ids(), `X-Long: ${long(65_536)}`] }), '64 KiB header line');
  add(
    'mime',
    'header-block-1mb',
    mm4({ headers: [...ids(), ...Array.from({ length: 16_384 }, (_, i) => `X-Pad-${i}: ${long(56)}`)] }),
    '1 MB header block',
  );
  add(
    'mime',
    'filename-traversal',
    mm4({
      headers: ids(),
      contentType: 'multipart/mixed; boundary="p"',
      body: '--p\r\nContent-Type: image/jpeg; name="../../../../etc/passwd"\r\nContent-Disposition: attachment; filename="../../../../etc/passwd"\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n--p--',
    }),
    'path traversal file name',
  );
  add(
    'mime',
    'filename-nul',
    mm4({
      headers: ids(),
      contentType: 'multipart/mixed; boundary="p"',
      body: '--p\r\nContent-Type: text/plain; name="a\u0000b.txt"\r\n\r\nx\r\n--p--',
    }),
    'NUL in file name',
  );
  add(
    'mime',
    'rfc2231-bad-percent',
    mm4({
      headers: ids(),
      contentType: 'multipart/mixed; boundary="p"',
      body: "--p\r\nContent-Type: image/gif; name*=utf-8''%ZZ%E2%82%\r\nContent-Disposition: attachment; filename*0*=utf-8''%; filename*1=%G0\r\n\r\nGIF89a\r\n--p--",
    }),
    'RFC 2231 bad % escapes',
  );
  add(
    'mime',
    'encoded-word-garbage',
    mm4({ headers: [...ids(), 'Subject: =?utf-8?B?!!!!?= =?x?Q?=ZZ?= =?utf-8?X?abc?='] }),
    'RFC 2047 garbage',
  );
  add(
    'mime',
    'smil-billion-laughs',
    mm4({
      headers: ids(),
      contentType: 'multipart/related; boundary="p"; type="application/smil"',
      body: `--p\r\nContent-Type: application/smil\r\n\r\n${laughs('smil')}\r\n--p\r\nContent-Type: text/plain\r\n\r\nhi\r\n--p--`,
    }),
    'billion laughs in SMIL',
  );
  add(
    'mime',
    'smil-xxe',
    mm4({
      headers: ids(),
      contentType: 'multipart/related; boundary="p"; type="application/smil"',
      body: `--p\r\nContent-Type: application/smil\r\n\r\n<?xml version="1.0"?><!DOCTYPE smil [<!ENTITY x SYSTEM "file:///etc/passwd">]><smil><body><par><text src="&x;"/></par></body></smil>\r\n--p--`,
    }),
    'XXE in SMIL',
  );
  add(
    'mime',
    'related-bad-start',
    mm4({
      headers: ids(),
      contentType: 'multipart/related; boundary="p"; start="<nope>"',
      body: '--p\r\nContent-Type: text/plain\r\n\r\nx\r\n--p--',
    }),
    'multipart/related start names no part',
  );
  let rfc822 = 'Content-Type: text/plain\r\n\r\ninner';
  for (let i = 0; i < 50; i++) rfc822 = `Content-Type: message/rfc822\r\n\r\n${rfc822}`;
  add(
    'mime',
    'rfc822-nested-50',
    mm4({ headers: ids(), contentType: 'message/rfc822', body: rfc822 }),
    'message/rfc822 nested 50 deep',
  );
  add(
    'mime',
    'jpeg-truncated',
    mm4({
      headers: ids(),
      contentType: 'image/jpeg',
      cte: 'base64',
      body: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46]).toString('base64'),
    }),
    'truncated JPEG',
  );
  add(
    'mime',
    'png-bomb-header',
    mm4({
      headers: ids(),
      contentType: 'image/png',
      cte: 'base64',
      body: pngHeader(100_000, 100_000).toString('base64'),
    }),
    'PNG claiming 100000x100000',
  );
  add(
    'mime',
    'gif-huge-dims',
    mm4({
      headers: ids(),
      contentType: 'image/gif',
      cte: 'base64',
      body: Buffer.from('GIF89a\xff\xff\xff\xff\x00\x00\x00;', 'latin1').toString('base64'),
    }),
    'GIF 65535x65535',
  );
  add('mime', 'empty-body', mm4({ headers: ids(), body: '' }), 'no content');
  add('mime', 'headers-only', mm4({ headers: ids() }).split('\r\n\r\n')[0], 'no blank line, no body');
  add('mime', 'bare-lf', mm4({ headers: ids() }).replace(/\r\n/g, '\n'), 'LF line ends');
  add('mime', 'bare-cr', mm4({ headers: ids() }).replace(/\r\n/g, '\r'), 'CR line ends');
  add('mime', 'nul-in-body', mm4({ headers: ids(), body: 'a\u0000b\u0000\u0000c' }), 'NUL bytes in text');
  add(
    'mime',
    'duplicate-content-type',
    mm4({ headers: [...ids(), 'Content-Type: image/jpeg', 'Content-Type: multipart/mixed; boundary=q'] }),
    'three Content-Type headers',
  );
  add(
    'mime',
    'params-1000',
    mm4({
      headers: ids(),
      contentType: `text/plain; ${Array.from({ length: 1000 }, (_, i) => `p${i}="${i}"`).join('; ')}`,
    }),
    '1000 Content-Type parameters',
  );
  add('mime', 'content-type-garbage', mm4({ headers: ids(), contentType: ';;;/=="\\' }), 'unparseable Content-Type');
}

function laughs(root: string) {
  const ents = ['<!ENTITY lol "lol">'];
  for (let i = 1; i <= 9; i++) ents.push(`<!ENTITY lol${i} "${`&lol${i === 1 ? '' : i - 1};`.repeat(10)}">`);
  return `<?xml version="1.0"?><!DOCTYPE ${root} [${ents.join('')}]><${root}>&lol9;</${root}>`;
}

function pngHeader(w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const chunk = Buffer.concat([Buffer.from([0, 0, 0, 13]), Buffer.from('IHDR'), ihdr, Buffer.from([0, 0, 0, 0])]);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk]);
}

function mm4Headers() {
  const a = (slug: string, o: Parameters<typeof mm4>[0], note: string) => add('mm4', slug, mm4(o), note);
  a('no-message-type', { headers: ids(), drop: ['X-Mms-Message-Type'] }, 'no X-Mms-Message-Type');
  a('unknown-type', { headers: [...ids(), 'X-Mms-Message-Type: MM4_bogus.REQ'] }, 'unknown PDU type');
  a(
    'message-id-2000',
    { headers: [`X-Mms-Message-ID: "${long(2000, 'm')}"`, 'X-Mms-Transaction-ID: "T-long-m"'] },
    '2,000-char message id',
  );
  a(
    'transaction-id-2000',
    { headers: ['X-Mms-Message-ID: "M-long-t"', `X-Mms-Transaction-ID: "${long(2000, 't')}"`] },
    '2,000-char transaction id',
  );
  a('ids-nul', { headers: ['X-Mms-Message-ID: "M-\u0000nul"', 'X-Mms-Transaction-ID: "T-\u0000nul"'] }, 'NUL in ids');
  a(
    'ids-control',
    { headers: ['X-Mms-Message-ID: "M-\u0007\u001b[31m"', 'X-Mms-Transaction-ID: "T-\u0008ctl"'] },
    'control characters in ids',
  );
  a('ids-empty', { headers: ['X-Mms-Message-ID: ""', 'X-Mms-Transaction-ID: ""'] }, 'empty ids');
  a(
    'ids-unicode',
    { headers: ['X-Mms-Message-ID: "M-\u202e\ufeff\u{1f4a9}"', 'X-Mms-Transaction-ID: "T-\u{1f4a9}"'] },
    'bidi, BOM and emoji ids',
  );
  a(
    'to-1000',
    {
      headers: [
        ...ids(),
        `To: ${Array.from({ length: 1000 }, (_, i) => `+1202555${String(i).padStart(4, '0')}/TYPE=PLMN@mms.iwf.example.net`).join(', ')}`,
      ],
    },
    '1000 recipients',
  );
  a('to-garbage', { headers: [...ids(), 'To: <<<@@@>>>, ;;;, "unterminated'] }, 'unparseable To');
  a('from-empty', { headers: [...ids(), 'From: '] }, 'empty From');
  a('expiry-bogus', { headers: [...ids(), 'X-Mms-Expiry: the day after never'] }, 'bogus expiry');
  a(
    'expiry-year-99999',
    { headers: [...ids(), 'X-Mms-Expiry: Fri, 31 Dec 99999 23:59:59 +0000'] },
    'expiry year 99999',
  );
  a('expiry-past', { headers: [...ids(), 'X-Mms-Expiry: Thu, 01 Jan 1970 00:00:00 +0000'] }, 'expired already');
  a('date-garbage', { headers: [...ids(), 'Date: 32 Foo 2025 25:61:61 +9999'] }, 'bad Date');
  a('version-999', { headers: [...ids(), 'X-Mms-3GPP-MMS-Version: 999.999.999'] }, 'unknown MMS version');
  a('duplicate-message-id', { headers: [...ids(), 'X-Mms-Message-ID: "M-other"'] }, 'two X-Mms-Message-ID values');
  a(
    'res-unknown',
    {
      headers: [
        'X-Mms-Message-Type: MM4_forward.RES',
        'X-Mms-Transaction-ID: "T-nobody"',
        'X-Mms-Message-ID: "M-nobody"',
        'X-Mms-Request-Status-Code: Ok',
      ],
    },
    '.RES for nothing',
  );
  a(
    'delivery-report-unknown',
    { headers: ['X-Mms-Message-Type: MM4_delivery_report.REQ', ...ids(), 'X-Mms-MM-Status-Code: Retrieved'] },
    'report for no delivery',
  );
  a(
    'read-reply-bad',
    { headers: ['X-Mms-Message-Type: MM4_read_reply_report.REQ', ...ids(), 'X-Mms-Read-Status: Sort-of'] },
    'bad read status',
  );
  a('originator-empty', { headers: [...ids(), 'X-Mms-Originator-System: '] }, 'empty originator system');
  a(
    'originator-2000',
    { headers: [...ids(), `X-Mms-Originator-System: ${long(2000, 'o')}@mms.mnc001.mcc001.gprs`] },
    '2,000-char originator',
  );
  a('sender-weird', { headers: [...ids(), 'Sender: =?utf-8?B?AAAA?= <@>'] }, 'odd Sender');
  a(
    'subject-64k-encoded-words',
    { headers: [...ids(), `Subject: ${Array.from({ length: 2000 }, () => '=?utf-8?B?w6TDtsO8?=').join(' ')}`] },
    '64 KiB of encoded words',
  );
  a(
    'folding-10000',
    { headers: [...ids(), `X-Folded: a${'\r\n b'.repeat(10_000)}`] },
    'one header folded 10,000 times',
  );
  a('ack-maybe', { headers: [...ids(), 'X-Mms-Ack-Request: Maybe'] }, 'bad ack flag');
  a('class-unknown', { headers: [...ids(), 'X-Mms-Message-Class: Ransom'] }, 'unknown message class');
  a('priority-weird', { headers: [...ids(), 'X-Mms-Priority: 9000'] }, 'bad priority');
  a('header-unicode-name', { headers: [...ids(), 'X-Ünïcødé: v'] }, '8-bit header name');
  a('header-no-colon', { headers: [...ids(), 'This line has no colon'] }, 'header without colon');
  a(
    'header-crlf-injection',
    { headers: [...ids(), 'X-Inject: a\r\nX-Mms-Message-Type: MM4_forward.RES'] },
    'second type header via CRLF',
  );
  a('line-1mb-no-crlf', { headers: ids(), body: long(1024 * 1024, 'z') }, '1 MB line');
  a(
    'recipient-foreign-domain',
    { headers: [...ids(), 'To: +4915112345678/TYPE=PLMN@mms.other.example'] },
    'To a foreign MMSE',
  );
}

// ---------------------------------------------------------------------------------------------
// SIP requests

function sipReq(o: {
  method?: string;
  uri?: string;
  headers?: string[];
  drop?: string[];
  body?: Buffer | string;
  cl?: string;
  version?: string;
  startLine?: string;
}) {
  const body = typeof o.body === 'string' ? Buffer.from(o.body, 'utf8') : (o.body ?? cpimBody({}));
  const method = o.method ?? 'MESSAGE';
  const uri = o.uri ?? 'tel:+4915112345678';
  const base: [string, string][] = [
    ['Via', 'SIP/2.0/{{TRANSPORT}} 127.0.0.1:5999;rport;branch={{BRANCH}}'],
    ['Max-Forwards', '70'],
    ['From', '<tel:+12025550101>;tag=corpus'],
    ['To', `<${uri}>`],
    ['Call-ID', `corpus-${++idn}@core.example.net`],
    ['CSeq', `1 ${method}`],
    ['P-Asserted-Identity', '<tel:+12025550101>'],
    ['Content-Type', 'message/cpim'],
  ];
  const overridden = new Set((o.headers ?? []).map((h) => h.split(':')[0].toLowerCase()));
  const drop = new Set((o.drop ?? []).map((d) => d.toLowerCase()));
  const lines = base
    .filter(([k]) => !overridden.has(k.toLowerCase()) && !drop.has(k.toLowerCase()))
    .map(([k, v]) => `${k}: ${v}`);
  const head = [
    o.startLine ?? `${method} ${uri} ${o.version ?? 'SIP/2.0'}`,
    ...lines,
    ...(o.headers ?? []),
    ...(drop.has('content-length') ? [] : [`Content-Length: ${o.cl ?? body.length}`]),
    '',
    '',
  ].join(CRLF);
  return Buffer.concat([Buffer.from(head, 'utf8'), body]);
}

function cpimBody(o: { id?: string; innerType?: string; inner?: Buffer | string; headers?: string[] }) {
  const inner = typeof o.inner === 'string' ? Buffer.from(o.inner, 'utf8') : (o.inner ?? Buffer.from('corpus'));
  return Buffer.concat([
    Buffer.from(
      [
        'From: <tel:+12025550101>',
        'To: <tel:+4915112345678>',
        'DateTime: 2025-03-04T10:15:02.000Z',
        'NS: imdn <urn:ietf:params:imdn>',
        `imdn.Message-ID: ${o.id ?? `corpus-${++idn}`}`,
        ...(o.headers ?? []),
        '',
        `Content-Type: ${o.innerType ?? 'text/plain; charset=utf-8'}`,
        `Content-Length: ${inner.length}`,
        '',
        '',
      ].join(CRLF),
      'utf8',
    ),
    inner,
  ]);
}

function sip() {
  const a = (slug: string, b: Buffer, note: string, expect: 'answer' | 'any' = 'answer', tcpClose = false) =>
    add('sip', slug, b, note, expect, tcpClose);
  a('no-via', sipReq({ drop: ['Via'] }), 'no Via: nowhere to answer', 'any');
  a('no-call-id', sipReq({ drop: ['Call-ID'] }), 'no Call-ID');
  a('no-cseq', sipReq({ drop: ['CSeq'] }), 'no CSeq');
  a('no-from-to', sipReq({ drop: ['From', 'To'] }), 'no From/To');
  a(
    'via-1000',
    sipReq({
      headers: [
        // Our own hop on top (the answer goes there, RFC 3261 18.2.2), then 1000 more.
        `Via: SIP/2.0/{{TRANSPORT}} 127.0.0.1:5999;rport;branch={{BRANCH}}, ${Array.from({ length: 1000 }, (_, i) => `SIP/2.0/UDP 10.0.${i >> 8}.${i & 255}:5060;branch=z9hG4bK${i}`).join(', ')}`,
      ],
    }),
    '1000 more Via hops',
  );
  a('max-forwards-0', sipReq({ headers: ['Max-Forwards: 0'] }), 'Max-Forwards 0 (483)');
  a('content-length-huge', sipReq({ cl: '99999999999' }), 'Content-Length far beyond the body', 'answer', true);
  a('content-length-negative', sipReq({ cl: '-5' }), 'negative Content-Length', 'answer', true);
  a('content-length-short', sipReq({ cl: '3' }), 'Content-Length shorter than the body', 'answer', true);
  a('content-length-twice', sipReq({ headers: ['Content-Length: 1'] }), 'two Content-Length values', 'answer', true);
  a('cseq-method-mismatch', sipReq({ headers: ['CSeq: 1 INVITE'] }), 'CSeq method differs');
  a('cseq-huge', sipReq({ headers: ['CSeq: 99999999999999999999 MESSAGE'] }), 'CSeq beyond 2^31');
  a('method-unknown', sipReq({ method: 'FROBNICATE' }), 'unknown method (405)');
  a('invite', sipReq({ method: 'INVITE' }), 'INVITE to a pager-mode IWF');
  a('options', sipReq({ method: 'OPTIONS', body: '' }), 'OPTIONS keep-alive (200)');
  a('ack', sipReq({ method: 'ACK', body: '' }), 'ACK: never answered (RFC 3261 §17.2.1)', 'any');
  a('cancel', sipReq({ method: 'CANCEL', body: '' }), 'CANCEL for nothing (481)');
  a('ruri-garbage', sipReq({ uri: '<<>>' }), 'garbage Request-URI');
  a('version-3', sipReq({ version: 'SIP/3.0' }), 'SIP/3.0 (505)');
  a('nul-in-header', sipReq({ headers: ['Subject: a\u0000b'] }), 'NUL in a header');
  a('header-64k', sipReq({ headers: [`Subject: ${long(60_000)}`] }), '60 KiB header (fits one datagram)');
  a(
    'header-block-1mb',
    sipReq({ headers: Array.from({ length: 16_384 }, (_, i) => `X-Pad-${i}: ${long(56)}`) }),
    '1 MB header block (TCP only)',
  );
  a('headers-10000', sipReq({ headers: Array.from({ length: 10_000 }, (_, i) => `X-H${i}: ${i}`) }), '10,000 headers');
  a(
    'gzip-garbage',
    sipReq({ headers: ['Content-Encoding: gzip'], body: 'not gzip at all' }),
    'gzip body that is not gzip',
  );
  a(
    'deflate-bomb',
    sipReq({ headers: ['Content-Encoding: deflate'], body: deflateRawSync(Buffer.alloc(20 * 1024 * 1024)) }),
    '20 MB of zeros deflated',
  );
  a('no-content-type', sipReq({ drop: ['Content-Type'] }), 'body without Content-Type');
  a('text-plain', sipReq({ headers: ['Content-Type: text/plain'], body: 'hi' }), 'not CPIM (415)');
  a('call-id-2000', sipReq({ headers: [`Call-ID: ${long(2000, 'c')}`] }), '2,000-char Call-ID');
  a(
    'branch-2000',
    sipReq({ headers: [`Via: SIP/2.0/{{TRANSPORT}} 127.0.0.1:5999;rport;branch=z9hG4bK${long(2000, 'b')}`] }),
    '2,000-char branch',
    'any',
  );
  a('tag-2000', sipReq({ headers: [`From: <tel:+12025550101>;tag=${long(2000, 't')}`] }), '2,000-char From tag');
  a('no-pai', sipReq({ drop: ['P-Asserted-Identity'] }), 'no P-Asserted-Identity (403)');
  a('pai-garbage', sipReq({ headers: ['P-Asserted-Identity: <<<@@@'] }), 'garbage P-Asserted-Identity');
  a(
    'response-line',
    Buffer.from(
      'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;rport;branch={{BRANCH}}\r\nContent-Length: 0\r\n\r\n',
    ),
    'a response for no transaction',
    'any',
  );
  a(
    'compact-headers',
    Buffer.from(
      sipReq({})
        .toString('latin1')
        .replace(/^Via:/m, 'v:')
        .replace(/^From:/m, 'f:')
        .replace(/^To:/m, 't:')
        .replace(/^Call-ID:/m, 'i:')
        .replace(/^Content-Type:/m, 'c:')
        .replace(/^Content-Length:/m, 'l:'),
      'latin1',
    ),
    'compact header forms',
  );
  a(
    'folding',
    Buffer.from(
      sipReq({})
        .toString('latin1')
        .replace(/^(From: )/m, '$1\r\n   ')
        .replace(/^(To: )/m, '$1\r\n\t'),
      'latin1',
    ),
    'folded headers',
  );
  a('bare-lf', Buffer.from(sipReq({}).toString('latin1').replace(/\r\n/g, '\n'), 'latin1'), 'LF line ends');
  a('binary-garbage', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 131 + 7) & 255)), 'binary noise', 'any');
  a('empty-lines', Buffer.from('\r\n\r\n\r\n\r\n'), 'keep-alive CRLFs (RFC 5626 §3.5.1)', 'any');
}

// ---------------------------------------------------------------------------------------------
// CPIM bodies (sent in a valid MESSAGE)

function cpim() {
  const a = (slug: string, b: Buffer | string, note: string) => add('cpim', slug, b, note);
  a('empty', '', 'empty CPIM');
  a('no-blank-line', 'From: <tel:+12025550101>\r\nTo: <tel:+4915112345678>', 'headers only');
  a(
    'no-imdn-id',
    cpimBody({})
      .toString()
      .replace(/^imdn\.Message-ID:.*\r\n/m, ''),
    'no imdn.Message-ID',
  );
  a('imdn-id-2000', cpimBody({ id: long(2000, 'i') }), '2,000-char imdn.Message-ID');
  a('imdn-id-spaces', cpimBody({ id: 'a b\u0000c' }), 'imdn.Message-ID with space and NUL');
  a(
    'no-ns',
    cpimBody({})
      .toString()
      .replace(/^NS:.*\r\n/m, ''),
    'no NS for imdn',
  );
  a(
    'ns-wrong',
    cpimBody({})
      .toString()
      .replace(/^NS:.*$/m, 'NS: imdn <urn:evil>'),
    'imdn prefix on another namespace',
  );
  a(
    'datetime-garbage',
    cpimBody({})
      .toString()
      .replace(/^DateTime:.*$/m, 'DateTime: yesterday-ish'),
    'bad DateTime',
  );
  a(
    'from-garbage',
    cpimBody({})
      .toString()
      .replace(/^From:.*$/m, 'From: <<<>>>'),
    'bad From',
  );
  a(
    'to-garbage',
    cpimBody({})
      .toString()
      .replace(/^To:.*$/m, 'To: ;;;'),
    'bad To',
  );
  a(
    'inner-no-type',
    cpimBody({})
      .toString()
      .replace(/^Content-Type: text.*\r\n/m, ''),
    'inner Content-Type missing',
  );
  a('inner-unknown-type', cpimBody({ innerType: 'application/x-unknown' }), 'inner type not interworked (415)');
  a('inner-utf7', cpimBody({ innerType: 'text/plain; charset=utf-7', inner: '+AGEAYgBj-' }), 'UTF-7 text');
  a('inner-bogus-charset', cpimBody({ innerType: 'text/plain; charset=klingon', inner: 'qapla' }), 'unknown charset');
  a(
    'inner-invalid-utf8',
    cpimBody({ inner: Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x90, 0x28, 0xbc]) }),
    'invalid UTF-8',
  );
  a('inner-1mb', cpimBody({ inner: long(1024 * 1024, 'x') }), '1 MB text (413)');
  a('header-64k', cpimBody({ headers: [`Subject: ${long(60_000)}`] }), '60 KiB CPIM header');
  a(
    'disposition-garbage',
    cpimBody({ headers: ['imdn.Disposition-Notification: everything, ;;;, nothing'] }),
    'bad Disposition-Notification',
  );
  a(
    'inner-length-mismatch',
    cpimBody({})
      .toString()
      .replace(/Content-Length: \d+/, 'Content-Length: 999999'),
    'inner Content-Length wrong',
  );
  a(
    'nested-cpim',
    cpimBody({ innerType: 'message/cpim', inner: cpimBody({ innerType: 'message/cpim', inner: cpimBody({}) }) }),
    'CPIM in CPIM in CPIM',
  );
  a('headers-1000', cpimBody({ headers: Array.from({ length: 1000 }, (_, i) => `X${i}: ${i}`) }), '1000 CPIM headers');
  a('subject-encoded-garbage', cpimBody({ headers: ['Subject:;lang=xx =?utf-8?B?!!!?='] }), 'odd Subject');
  a('nul-content', cpimBody({ inner: Buffer.from([0, 0, 0, 0x41, 0]) }), 'NUL bytes in content');
  a('lf-only', cpimBody({}).toString().replace(/\r\n/g, '\n'), 'LF line ends');
  a('bidi-content', cpimBody({ inner: '\u202eevil\u202c \ufeff' }), 'bidi overrides in text');
}

// ---------------------------------------------------------------------------------------------
// IMDN XML (RFC 5438 §7.2), sent as message/imdn+xml in CPIM

const imdnDoc = (inner: string, id = 'corpus-imdn-1') =>
  `<?xml version="1.0" encoding="UTF-8"?><imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>${id}</message-id><datetime>2025-03-04T10:15:02Z</datetime>${inner}</imdn>`;

function imdn() {
  const a = (slug: string, b: string | Buffer, note: string) => add('imdn', slug, b, note);
  a('billion-laughs', laughs('imdn'), 'billion laughs');
  a(
    'xxe-file',
    '<?xml version="1.0"?><!DOCTYPE imdn [<!ENTITY x SYSTEM "file:///etc/passwd">]><imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>&x;</message-id></imdn>',
    'XXE file',
  );
  a(
    'xxe-http',
    '<?xml version="1.0"?><!DOCTYPE imdn [<!ENTITY x SYSTEM "http://169.254.169.254/latest/meta-data/">]><imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>&x;</message-id></imdn>',
    'XXE to the metadata address',
  );
  a(
    'xxe-parameter',
    '<?xml version="1.0"?><!DOCTYPE imdn [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd">%p;]><imdn/>',
    'external parameter entity',
  );
  a(
    'comment-64k',
    imdnDoc(`<!--${long(65_536, '-x')}--><delivery-notification><status><delivered/></status></delivery-notification>`),
    '64 KiB comment',
  );
  a(
    'comment-64k-outside',
    `<!--${long(65_536, 'c')}-->${imdnDoc('<delivery-notification><status><delivered/></status></delivery-notification>')}`,
    '64 KiB comment before the root',
  );
  a(
    'char-ref-110000',
    imdnDoc('<delivery-notification><status><delivered/></status></delivery-notification>', 'x&#x110000;y'),
    '&#x110000;',
  );
  a(
    'char-ref-0',
    imdnDoc('<delivery-notification><status><delivered/></status></delivery-notification>', 'x&#0;y'),
    '&#0;',
  );
  a('char-ref-surrogate', imdnDoc('', '&#xD800;'), 'surrogate char ref');
  a('unknown-ns', '<?xml version="1.0"?><imdn xmlns="urn:evil"><message-id>x</message-id></imdn>', 'wrong namespace');
  a(
    'no-message-id',
    '<?xml version="1.0"?><imdn xmlns="urn:ietf:params:xml:ns:imdn"><delivery-notification><status><delivered/></status></delivery-notification></imdn>',
    'no message-id',
  );
  a(
    'message-id-2000',
    imdnDoc('<delivery-notification><status><delivered/></status></delivery-notification>', long(2000, 'm')),
    '2,000-char message-id',
  );
  a(
    'message-id-unknown',
    imdnDoc('<delivery-notification><status><delivered/></status></delivery-notification>', 'no-such-delivery'),
    'IMDN for no delivery (404)',
  );
  a(
    'message-id-forged',
    imdnDoc('<delivery-notification><status><delivered/></status></delivery-notification>', 'w.bW1zLXRvLWNwbS9ldmls.x'),
    'forged routing id',
  );
  a('deep-10000', imdnDoc(`${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}`), 'elements nested 10,000 deep');
  a('unclosed', '<?xml version="1.0"?><imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>x', 'unclosed elements');
  a('cdata-huge', imdnDoc(`<![CDATA[${long(500_000, 'd')}]]>`), '500 KB CDATA');
  a(
    'pi-weird',
    `<?xml version="1.0"?><?evil ${long(1000, 'p')}?>${imdnDoc('')}`.replace(
      '<?xml version="1.0" encoding="UTF-8"?>',
      '',
    ),
    'processing instruction',
  );
  a(
    'doctype-internal',
    `<?xml version="1.0"?><!DOCTYPE imdn [<!ELEMENT imdn ANY><!ATTLIST imdn a CDATA "${long(1000, 'q')}">]>${imdnDoc('').replace('<?xml version="1.0" encoding="UTF-8"?>', '')}`,
    'internal subset with defaults',
  );
  a('utf16-declared', imdnDoc('').replace('UTF-8', 'UTF-16'), 'declares UTF-16, is UTF-8');
  a(
    'invalid-utf8',
    Buffer.concat([
      Buffer.from(imdnDoc('').slice(0, 80)),
      Buffer.from([0xff, 0xfe, 0xc0, 0xaf]),
      Buffer.from(imdnDoc('').slice(80)),
    ]),
    'invalid UTF-8 bytes',
  );
  a(
    'attributes-10000',
    imdnDoc(`<delivery-notification ${Array.from({ length: 10_000 }, (_, i) => `a${i}="${i}"`).join(' ')}/>`),
    '10,000 attributes',
  );
  a('empty', '', 'empty document');
  a('whitespace', '   \r\n\t  ', 'whitespace only');
  a(
    'status-unknown',
    imdnDoc('<delivery-notification><status><exploded/></status></delivery-notification>'),
    'unknown status',
  );
  a('two-roots', `${imdnDoc('')}<imdn/>`, 'two root elements');
}

// ---------------------------------------------------------------------------------------------
// FT-over-HTTP descriptors (GSMA RCC.07 A.2.4), sent as application/vnd.gsma.rcs-ft-http+xml in CPIM

const ft = (o: { url?: string; size?: string; type?: string; name?: string; until?: string; extra?: string }) =>
  `<?xml version="1.0" encoding="UTF-8"?><file xmlns="urn:gsma:params:xml:ns:rcs:rcs:fthttp"><file-info type="file">` +
  `<file-size>${o.size ?? '159'}</file-size>${o.name === undefined ? '<file-name>photo.jpg</file-name>' : o.name}` +
  `${o.type === undefined ? '<content-type>image/jpeg</content-type>' : o.type}` +
  `<data url="${o.url ?? 'https://ftcs.example.net/f/corpus'}" until="${o.until ?? '2099-03-11T10:20:41Z'}"/></file-info>${o.extra ?? ''}</file>`;

function fthttp() {
  const a = (slug: string, b: string, note: string) => add('fthttp', slug, b, note);
  a('billion-laughs', laughs('file'), 'billion laughs');
  a(
    'xxe',
    '<?xml version="1.0"?><!DOCTYPE file [<!ENTITY x SYSTEM "file:///etc/passwd">]><file xmlns="urn:gsma:params:xml:ns:rcs:rcs:fthttp"><file-info type="file"><file-size>1</file-size><content-type>image/jpeg</content-type><data url="&x;" until="2099-01-01T00:00:00Z"/></file-info></file>',
    'XXE in the URL',
  );
  a('comment-64k', ft({ extra: `<!--${long(65_536, 'c')}-->` }), '64 KiB comment');
  a('char-ref-110000', ft({ name: '<file-name>a&#x110000;.jpg</file-name>' }), '&#x110000; in file name');
  a('size-negative', ft({ size: '-1' }), 'negative size');
  a('size-huge', ft({ size: '1000000000000000000000000000000' }), 'size 1e30 (413)');
  a('size-nan', ft({ size: 'lots' }), 'size not a number');
  a('url-javascript', ft({ url: 'javascript:alert(1)' }), 'javascript: URL');
  a('url-file', ft({ url: 'file:///etc/passwd' }), 'file: URL');
  a('url-ftp', ft({ url: 'ftp://ftcs.example.net/f' }), 'ftp: URL');
  a('url-gopher', ft({ url: 'gopher://127.0.0.1:6379/_FLUSHALL' }), 'gopher: to redis');
  a('url-data', ft({ url: 'data:image/jpeg;base64,/9j/4AAQ' }), 'data: URL');
  a('url-bad-percent', ft({ url: 'https://ftcs.example.net/%zz%%/%' }), 'bad % escapes');
  a('url-2000', ft({ url: `https://ftcs.example.net/${long(2000, 'u')}` }), '2,000-char URL');
  a('url-loopback', ft({ url: 'http://127.0.0.1/f' }), 'loopback (SSRF guard)');
  a('url-metadata', ft({ url: 'http://169.254.169.254/latest/meta-data/' }), 'cloud metadata (SSRF guard)');
  a('url-userinfo', ft({ url: 'http://ftcs.example.net@127.0.0.1/f' }), 'userinfo trick');
  a('no-content-type', ft({ type: '' }), 'no content-type');
  a('until-garbage', ft({ until: 'never' }), 'bad until');
  a(
    'two-files',
    ft({
      extra:
        '<file-info type="file"><file-size>1</file-size><content-type>image/gif</content-type><data url="https://a.example/b" until="2099-01-01T00:00:00Z"/></file-info>',
    }),
    'two file-info type=file',
  );
  a('no-file-info', '<?xml version="1.0"?><file xmlns="urn:gsma:params:xml:ns:rcs:rcs:fthttp"></file>', 'no file-info');
  a(
    'nested-1000',
    `<?xml version="1.0"?><file xmlns="urn:gsma:params:xml:ns:rcs:rcs:fthttp">${'<x>'.repeat(1000)}${'</x>'.repeat(1000)}</file>`,
    'nested 1000 deep',
  );
  a('wrong-ns', ft({}).replace('urn:gsma:params:xml:ns:rcs:rcs:fthttp', 'urn:evil'), 'wrong namespace');
  a(
    'name-traversal',
    ft({ name: '<file-name>../../../etc/passwd\u0000.jpg</file-name>' }),
    'traversal and NUL in file name',
  );
  a('thumbnail-only', ft({}).replace('type="file"', 'type="thumbnail"'), 'thumbnail, no file');
}

// ---------------------------------------------------------------------------------------------
// Request-URIs (RFC 3261 §19.1, RFC 3966 tel)

function uri() {
  const u = [
    ['tel-2000-digits', `tel:+${'4'.repeat(2000)}`],
    ['tel-letters', 'tel:+49abcdef'],
    ['tel-empty', 'tel:'],
    ['tel-plus-only', 'tel:+'],
    ['tel-nul', 'tel:+4915112345678%00'],
    ['tel-context-garbage', 'tel:1234;phone-context=;;;'],
    ['tel-ext-long', `tel:+4915112345678;ext=${'9'.repeat(500)}`],
    ['sip-bad-percent', 'sip:%ZZ%@ims.iwf.example.net'],
    ['sip-ipv6-open', 'sip:user@[::1'],
    ['sip-ipv6-garbage', 'sip:user@[gggg::zzzz]'],
    ['sip-many-semicolons', 'sip:+4915112345678@ims.iwf.example.net;user=phone;;;;;;;;'],
    ['sip-params-1000', `sip:+4915112345678@ims.iwf.example.net${';p=1'.repeat(1000)}`],
    ['sip-port-99999', 'sip:+4915112345678@ims.iwf.example.net:99999'],
    ['sip-port-negative', 'sip:+4915112345678@ims.iwf.example.net:-1'],
    ['sip-host-2000', `sip:+4915112345678@${long(2000, 'h')}.example.net`],
    ['sip-unicode-host', 'sip:+4915112345678@ïmś.ëxample.net'],
    ['sip-crlf-escaped', 'sip:+4915112345678%0d%0aX-Evil:%201@ims.iwf.example.net'],
    ['sip-user-2000', `sip:${long(2000, 'u')}@ims.iwf.example.net`],
    ['sip-no-user', 'sip:ims.iwf.example.net'],
    ['sips', 'sips:+4915112345678@ims.iwf.example.net'],
    ['urn', 'urn:service:sos'],
    ['mailto', 'mailto:someone@example.net'],
    ['empty-angle', '<>'],
    ['star', '*'],
    ['tel-national', 'tel:015112345678'],
    ['tel-visual-separators', 'tel:+49-151-1234-5678'],
    ['tel-short-code', 'tel:12345;phone-context=+49'],
  ];
  for (const [slug, v] of u) add('uri', slug, v, `Request-URI ${v.slice(0, 40)}`);
}

// ---------------------------------------------------------------------------------------------
// HTTP to the media server (RFC 9110/9112)

function http() {
  const a = (slug: string, b: string | Buffer, note: string) => add('http', slug, b, note);
  const get = (path: string, headers: string[] = []) =>
    [`GET ${path} HTTP/1.1`, 'Host: media.iwf.example.net', ...headers, '', ''].join(CRLF);
  a('unknown-id', get('/m/AAAAAAAAAAAAAAAAAAAAAA'), 'a well-formed id nobody stored (404)');
  a('guessed-id-short', get('/m/1'), 'short id (404)');
  a('traversal', get('/m/../../../../etc/passwd'), 'path traversal');
  a('traversal-encoded', get('/m/%2e%2e%2f%2e%2e%2fetc%2fpasswd'), 'encoded traversal');
  a('traversal-double-encoded', get('/m/%252e%252e%252fetc'), 'double-encoded traversal');
  a('bad-percent', get('/m/%ZZ%'), 'bad % escapes');
  a('id-2000', get(`/m/${long(2000, 'i')}`), '2,000-char id');
  a('root', get('/'), 'no object');
  a('post', ['POST /m/x HTTP/1.1', 'Host: m', 'Content-Length: 3', '', 'abc'].join(CRLF), 'POST (405)');
  a('delete', ['DELETE /m/x HTTP/1.1', 'Host: m', '', ''].join(CRLF), 'DELETE');
  a('range-huge', get('/m/AAAAAAAAAAAAAAAAAAAAAA', ['Range: bytes=999999999999-']), 'unsatisfiable range');
  a('range-garbage', get('/m/AAAAAAAAAAAAAAAAAAAAAA', ['Range: bytes=-,-,a-b,99-1']), 'garbage range');
  a('no-host', ['GET /m/x HTTP/1.1', '', ''].join(CRLF), 'HTTP/1.1 without Host (400)');
  a(
    'header-1mb',
    get(
      '/m/x',
      Array.from({ length: 16_384 }, (_, i) => `X-Pad-${i}: ${long(56)}`),
    ),
    '1 MB of headers (431)',
  );
  a('content-length-huge', get('/m/x', ['Content-Length: 99999999999999']), 'GET with huge Content-Length');
  a(
    'chunked-garbage',
    ['POST /m/x HTTP/1.1', 'Host: m', 'Transfer-Encoding: chunked', '', 'zz\r\nnot a chunk\r\n'].join(CRLF),
    'bad chunk size',
  );
  a(
    'smuggling-cl-te',
    [
      'POST /m/x HTTP/1.1',
      'Host: m',
      'Content-Length: 4',
      'Transfer-Encoding: chunked',
      '',
      '0',
      '',
      'GET /m/y HTTP/1.1',
      '',
      '',
    ].join(CRLF),
    'CL and TE together',
  );
  a('http09', 'GET /m/x\r\n', 'HTTP/0.9 request line');
  a('http99', 'GET /m/x HTTP/9.9\r\nHost: m\r\n\r\n', 'HTTP/9.9');
  a('nul-path', get('/m/a\u0000b'), 'NUL in the path');
  a('method-2000', `${long(2000, 'G')} /m/x HTTP/1.1\r\nHost: m\r\n\r\n`, '2,000-char method');
  a('absolute-uri', get('http://evil.example/m/x'), 'absolute-form target');
  a('connect', 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n', 'CONNECT');
  a('options-star', 'OPTIONS * HTTP/1.1\r\nHost: m\r\n\r\n', 'OPTIONS *');
  a('cr-only', 'GET /m/x HTTP/1.1\rHost: m\r\r', 'CR line ends');
  a('header-no-colon', get('/m/x', ['NoColonHere']), 'header without colon');
  a('garbage', Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 97 + 13) & 255)), 'binary noise');
  a('head-unknown', ['HEAD /m/AAAAAAAAAAAAAAAAAAAAAA HTTP/1.1', 'Host: m', '', ''].join(CRLF), 'HEAD unknown (404)');
}

for (const k of Object.keys(manifest) as Kind[]) {
  rmSync(join(DIR, k), { recursive: true, force: true });
  mkdirSync(join(DIR, k), { recursive: true });
}
mime();
mm4Headers();
sip();
cpim();
imdn();
fthttp();
uri();
http();
// Written as prettier writes it, so `npm run lint` (prettier --check) passes on a regenerated corpus.
const options = (await prettier.resolveConfig(join(DIR, 'manifest.json'))) ?? {};
writeFileSync(
  join(DIR, 'manifest.json'),
  await prettier.format(JSON.stringify(manifest), { ...options, filepath: join(DIR, 'manifest.json') }),
);
const total = Object.values(manifest).reduce((n, l) => n + l.length, 0);
console.log(
  `wrote ${total} inputs: ${Object.entries(manifest)
    .map(([k, l]) => `${k} ${l.length}`)
    .join(', ')}`,
);
