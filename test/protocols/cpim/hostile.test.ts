/**
 * Hostile input for the readers of protocols/cpim/: IMDN (RFC 5438) and FT-over-HTTP (RCC.07)
 * documents, and CPIM headers. Each input must be answered (refused or read) with a result, never
 * a throw, and within a CPU bound, measured with process.cpuUsage() so a slow machine doesn't fail
 * it and a fast one doesn't hide backtracking.
 */
import { isDeepStrictEqual } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { parseCpim, readImdnFields, cpimHeader, IMDN_NS } from '../../../protocols/cpim/cpim.js';
import { parseFtHttp, serializeFtHttp, type FtHttpDescriptor } from '../../../protocols/cpim/fthttp.js';
import { parseImdn, serializeImdn, type ImdnNotification } from '../../../protocols/cpim/imdn.js';
import { vector } from '../vectors.js';

const CPU_BUDGET_MS = 200;
const KiB64 = 64 * 1024;
const NS_IMDN = 'urn:ietf:params:xml:ns:imdn';
const NS_FT = 'urn:gsma:params:xml:ns:rcs:rcs:fthttp';

/** Runs `f` and asserts it used less than CPU_BUDGET_MS of CPU (user + system). */
function withinCpu<T>(t: ExecutionContext, label: string, f: () => T): T {
  const before = process.cpuUsage();
  const out = f();
  const used = process.cpuUsage(before);
  const ms = (used.user + used.system) / 1000;
  t.true(ms < CPU_BUDGET_MS, `${label}: ${ms.toFixed(1)} ms CPU`);
  if (process.env.CPU_LOG) t.log(`${label}: ${ms.toFixed(1)} ms CPU`);
  return out;
}

/** Asserts a refusal whose error matches `re`. */
function refused(t: ExecutionContext, r: { ok: boolean; error?: string }, re: RegExp, label = '') {
  t.false(r.ok, label);
  t.regex(r.error ?? '', re, label);
}
const attrs = (n: number) => Array.from({ length: n }, (_, i) => `a${i}="v"`).join(' ');

const imdnWith = (inner: string, extra = '') =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<imdn xmlns="${NS_IMDN}"${extra}>${inner}<message-id>m1</message-id>` +
  '<datetime>2025-03-04T10:15:02.000Z</datetime>' +
  '<delivery-notification><status><delivered/></status></delivery-notification></imdn>';
const ftWith = (inner: string) =>
  `<file xmlns="${NS_FT}">${inner}<file-info type="file"><file-size>1</file-size>` +
  '<content-type>image/jpeg</content-type><data url="https://x/f" until="2026-01-01T00:00:00Z"/></file-info></file>';
/** Pads `make(filler)` with `filler` characters to exactly `total` characters. */
const padTo = (total: number, make: (pad: string) => string, c = 'x') => {
  const bare = make('').length;
  return make(c.repeat(total - bare));
};

const readers = [
  ['parseImdn', parseImdn],
  ['parseFtHttp', parseFtHttp],
] as const;

test('reference documents still read (sanity for the CPU-bound tests below)', (t) => {
  t.like(parseImdn(imdnWith('')), { ok: true, notification: { messageId: 'm1', status: 'delivered' } });
  t.like(parseFtHttp(ftWith('')), { ok: true, descriptor: { file: { url: 'https://x/f', size: 1 } } });
  t.like(parseImdn(vector('imdn-delivered.xml').toString()), { ok: true });
});

test('64 KiB comments: read when within the limit, refused when unterminated or over, quickly', (t) => {
  const imdnComment = padTo(KiB64, (p) => imdnWith(`<!--${p}-->`));
  t.is(imdnComment.length, KiB64);
  t.like(
    withinCpu(t, 'IMDN 64 KiB comment', () => parseImdn(imdnComment)),
    { ok: true },
  );
  const ftComment = padTo(KiB64, (p) => ftWith(`<!--${p}-->`));
  t.like(
    withinCpu(t, 'FT 64 KiB comment', () => parseFtHttp(ftComment)),
    { ok: true },
  );
  // The inputs that stalled the regex readers: many comment openers and no closer.
  const openers = padTo(KiB64, (p) => `<imdn xmlns="${NS_IMDN}">${p}`, '<!--').slice(0, KiB64);
  for (const [name, read] of readers) {
    t.like(
      withinCpu(t, `${name} unterminated comments`, () => read(openers)),
      { ok: false },
    );
    t.like(
      withinCpu(t, `${name} one unterminated comment`, () => read(`<x><!--${'x'.repeat(KiB64 - 10)}`)),
      { ok: false },
    );
  }
  refused(t, parseImdn(imdnComment + ' '), /larger than/);
  refused(t, parseFtHttp(ftComment + ' '), /larger than/);
});

test('inputs that stalled or crashed the regex readers are refused quickly', (t) => {
  const inputs = [
    `<imdn>${'<!--'.repeat(16_000)}`,
    `<imdn xmlns="${NS_IMDN}">${'<message-id '.repeat(5000)}`,
    `<imdn xmlns="${NS_IMDN}">${'<delivery-notification>'.repeat(2500)}`,
    `<file xmlns="${NS_FT}">${'<file-info>'.repeat(5000)}`,
    `<file xmlns="${NS_FT}"><file-info type="file">${'<data url="'.repeat(5000)}`,
    `<file xmlns="${NS_FT}"><file-info type="file">${'x'.repeat(60_000)}`,
  ];
  for (const [name, read] of readers)
    for (const [i, xml] of inputs.entries()) {
      t.true(xml.length <= KiB64);
      t.false(withinCpu(t, `${name} input ${i}`, () => read(xml)).ok);
    }
  refused(t, parseImdn(imdnWith('').replace('m1', '&#x110000;')), /malformed character entity/);
});

test('64 KiB attribute values and text are read quickly', (t) => {
  const attr = padTo(KiB64, (p) => imdnWith('', ` foo="${p}"`));
  t.like(
    withinCpu(t, 'IMDN 64 KiB attribute', () => parseImdn(attr)),
    { ok: true },
  );
  const longId = 'a'.repeat(KiB64 - imdnWith('').length);
  const text = imdnWith('').replace('<message-id>m1<', `<message-id>m1${longId}<`);
  const r = withinCpu(t, 'IMDN 64 KiB text', () => parseImdn(text));
  t.is(r.ok && r.notification.messageId.length, 2 + longId.length);
  const url = 'https://x/' + 'u'.repeat(KiB64 - ftWith('').length - 10);
  const ft = withinCpu(t, 'FT 64 KiB url', () => parseFtHttp(ftWith('').replace('https://x/f', url)));
  t.is(ft.ok && ft.descriptor.file.url, url);
  // Unclosed attribute and unclosed tags, to the limit.
  for (const [name, read] of readers) {
    t.like(
      withinCpu(t, `${name} unclosed attribute`, () => read(padTo(KiB64, (p) => `<file a="${p}`))),
      { ok: false },
    );
    t.like(
      withinCpu(t, `${name} a run of <file-info`, () => read(`<file xmlns="${NS_FT}">${'<file-info '.repeat(5000)}`)),
      { ok: false },
    );
    t.like(
      withinCpu(t, `${name} a run of <`, () => read('<'.repeat(KiB64))),
      { ok: false },
    );
    t.like(
      withinCpu(t, `${name} many attributes`, () => read(`<file ${attrs(5000)}/>`)),
      { ok: false },
    );
  }
});
test('10k nested elements are refused quickly (depth bound)', (t) => {
  const deepImdn = `<imdn xmlns="${NS_IMDN}">${'<x>'.repeat(10_000)}`;
  const deepClosed = `<i:imdn xmlns:i="${NS_IMDN}">${'<i:x>'.repeat(4000)}${'</i:x>'.repeat(4000)}</i:imdn>`;
  t.true(deepClosed.length <= KiB64);
  const deepFt = `<file xmlns="${NS_FT}">${'<file-info>'.repeat(5000)}`;
  for (const [name, read] of readers)
    for (const [what, xml] of [
      ['unclosed', deepImdn],
      ['closed', deepClosed],
      ['FT', deepFt],
    ])
      refused(
        t,
        withinCpu(t, `${name} nested ${what}`, () => read(xml)),
        /deeper|malformed/,
        `${name} ${what}`,
      );
  refused(t, parseImdn(deepClosed), /nested deeper than 16/);
});

test('DTDs are refused: billion laughs, XXE, external DTD, internal entities', (t) => {
  const lol = Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`).join('');
  const laughs = `<?xml version="1.0"?><!DOCTYPE imdn [<!ENTITY lol0 "lol">${lol}]><imdn xmlns="${NS_IMDN}"><message-id>&lol9;</message-id></imdn>`;
  const xxe = `<?xml version="1.0"?><!DOCTYPE imdn [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${imdnWith('')
    .replace('m1', '&xxe;')
    .replace(/^<\?xml[^>]*>/, '')}`;
  const external = `<!DOCTYPE imdn SYSTEM "http://127.0.0.1:9/imdn.dtd">${imdnWith('').replace(/^<\?xml[^>]*>\n/, '')}`;
  const paramEntity = `<!DOCTYPE file [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x">%p;]><file xmlns="${NS_FT}"/>`;
  const hugeDtd = padTo(KiB64, (p) => `<!DOCTYPE imdn [<!-- ${p} -->]><imdn xmlns="${NS_IMDN}"/>`);
  for (const [name, read] of readers)
    for (const [what, xml] of [
      ['billion laughs', laughs],
      ['XXE', xxe],
      ['external DTD', external],
      ['parameter entity', paramEntity],
      ['64 KiB DTD', hugeDtd],
    ])
      refused(
        t,
        withinCpu(t, `${name} ${what}`, () => read(xml)),
        /DOCTYPE/,
        `${name} ${what}`,
      );
  t.deepEqual(parseImdn(laughs), { ok: false, error: 'DOCTYPE declarations are not allowed' });
  // Without a DTD, an entity other than the five predefined ones is undefined: refused, not kept raw.
  refused(t, parseImdn(imdnWith('').replace('m1', '&xxe;')), /undefined entity/);
  refused(t, parseFtHttp(ftWith('').replace('https://x/f', 'https://x/&xxe;')), /undefined entity/);
});

test('bad character references are refused, not thrown', (t) => {
  for (const ref of [
    '&#x110000;',
    '&#1114112;',
    '&#0;',
    '&#xD800;',
    '&#xFFFE;',
    '&#99999999999999999999;',
    '&#x;',
    '&#;',
  ])
    for (const [name, read, xml] of [
      ['parseImdn', parseImdn, imdnWith('').replace('m1', `m${ref}`)],
      ['parseFtHttp', parseFtHttp, ftWith('').replace('image/jpeg', `image/${ref}`)],
      ['parseFtHttp (attribute)', parseFtHttp, ftWith('').replace('https://x/f', `https://x/${ref}`)],
    ] as const) {
      refused(t, read(xml), /malformed XML: .*(character|entity)/, `${name} ${ref}`);
    }
  t.like(parseImdn(imdnWith('').replace('m1', 'm&#x10FFFF;&#x1F600;&lt;')), {
    ok: true,
    notification: { messageId: 'm\u{10FFFF}\u{1F600}<' },
  });
});

test('every truncation of a valid document is refused', (t) => {
  const imdn = vector('imdn-delivered.xml').toString();
  const ft = serializeFtHttp({
    file: { url: 'https://x/f', until: 'u', size: 3, contentType: 'audio/amr', playingLengthMs: 3 },
    thumbnail: { url: 'https://x/t', until: 'u', size: 1, contentType: 'image/jpeg' },
  });
  const before = process.cpuUsage();
  for (let n = 0; n < imdn.trimEnd().length; n++) t.false(parseImdn(imdn.slice(0, n)).ok, `IMDN cut at ${n}`);
  for (let n = 0; n < ft.trimEnd().length; n++) t.false(parseFtHttp(ft.slice(0, n)).ok, `FT cut at ${n}`);
  const used = process.cpuUsage(before);
  t.true((used.user + used.system) / 1000 < CPU_BUDGET_MS * 5, 'all truncations together');
});

test('malformed and wrong-namespace documents are refused with a reason', (t) => {
  const cases: [string, RegExp, string][] = [
    ['mismatched tags', /malformed/, imdnWith('').replace('</imdn>', '</imdnx>')],
    ['two roots', /malformed/, imdnWith('') + '<imdn/>'],
    ['text after the root', /malformed/, imdnWith('') + 'x'],
    ['unbound prefix', /malformed/, imdnWith('').replace('<delivered/>', '<q:delivered/>')],
    ['duplicate attribute', /malformed/, imdnWith('', ' a="1" a="2"')],
    ['raw & in text', /malformed/, imdnWith('').replace('m1', 'm&1')],
    ['raw < in attribute', /malformed/, imdnWith('', ' a="<"')],
    ['control character', /malformed/, imdnWith('').replace('m1', 'm\u0001')],
    ['no namespace', /root element/, imdnWith('').replace(` xmlns="${NS_IMDN}"`, '')],
    ['other namespace', /root element/, imdnWith('').replace(NS_IMDN, 'urn:example')],
    [
      'children in another namespace',
      /missing <message-id>/,
      imdnWith('')
        .replace(/<(\/?)message-id>/g, '<$1o:message-id>')
        .replace('<imdn ', '<imdn xmlns:o="urn:o" '),
    ],
    ['empty', /malformed/, ''],
    ['not XML', /malformed/, 'hello'],
  ];
  for (const [what, want, xml] of cases) {
    refused(t, parseImdn(xml), want, what);
  }
  refused(t, parseFtHttp(ftWith('').replace(NS_FT, 'urn:example')), /root element/);
  t.like(parseFtHttp(ftWith('').replace('<file-size>1<', '<file-size>-1<')), { ok: false });
  t.like(parseFtHttp(ftWith('').replace('<file-size>1<', '<file-size>1e3<')), { ok: false });
  // Error text is bounded and printable (it goes into a SIP reason phrase).
  const r = parseImdn(`<${'n'.repeat(60_000)}>`);
  t.true(!r.ok && r.error.length <= 160 && /^[\x20-\x7e]*$/.test(r.error));
});

test('tolerant of prefixes, whitespace, CDATA, comments, PIs, a BOM and extensions', (t) => {
  const xml =
    '\uFEFF\r\n  <?xml version="1.0" encoding="UTF-8"?>\n<!-- hi --><?pi data?>\n' +
    `<n:imdn xmlns:n="${NS_IMDN}" xmlns:x="urn:ext">\n` +
    '  <n:message-id>\n  <![CDATA[a<b]]>&amp;c  \n</n:message-id>\n' +
    '  <x:extra><n:message-id>wrong</n:message-id></x:extra>\n' +
    '  <n:datetime >2025-03-04T10:15:02Z</n:datetime >\n' +
    '  <n:recipient-uri>tel:+1</n:recipient-uri>\n' +
    '  <n:processing-notification><n:status>\n<x:why/><n:stored></n:stored></n:status></n:processing-notification>\n' +
    '</n:imdn>\n\n';
  t.deepEqual(parseImdn(xml), {
    ok: true,
    notification: {
      messageId: 'a<b&c',
      datetime: '2025-03-04T10:15:02Z',
      recipientUri: 'tel:+1',
      kind: 'processing',
      status: 'stored',
    },
  });
  const ft =
    `<f:file xmlns:f="${NS_FT}" xmlns:am="urn:gsma:params:xml:ns:rcs:rcs:rram">` +
    '<f:file-info type = \'file\' file-disposition="attach"><f:file-size> 42 </f:file-size>' +
    '<f:file-name>a&amp;b.amr</f:file-name><f:content-type>audio/amr;voice-recording=yes</f:content-type>' +
    '<am:playing-length>1500</am:playing-length><f:branded-url>https://b</f:branded-url>' +
    '<f:data url="https://x/f?a=1&amp;b=2" until="2026-01-01T00:00:00Z"/></f:file-info></f:file>';
  t.deepEqual(parseFtHttp(ft), {
    ok: true,
    descriptor: {
      file: {
        url: 'https://x/f?a=1&b=2',
        until: '2026-01-01T00:00:00Z',
        size: 42,
        contentType: 'audio/amr;voice-recording=yes',
        name: 'a&b.amr',
        playingLengthMs: 1500,
        disposition: 'attach',
      },
    },
  });
});

test('CPIM headers: no super-linear backtracking on 1 MiB adversarial headers', (t) => {
  const near1MiB = 1024 * 1024 - 200;
  const inputs: [string, Buffer][] = [
    ['From: a run of <', Buffer.from(`From: ${'<'.repeat(near1MiB)}\r\n\r\nContent-Type: text/plain\r\n\r\nx`)],
    ['To: <> pairs', Buffer.from(`To: ${'<>'.repeat(near1MiB / 2)}\r\n\r\nContent-Type: text/plain\r\n\r\nx`)],
    // Folded NS header whose value is all spaces, then a header that is only a long space run.
    ['NS: folded spaces', Buffer.from(`NS:\r\n${' \r\n'.repeat(near1MiB / 3)}\r\nContent-Type: text/plain\r\n\r\nx`)],
    ['NS: a long prefix', Buffer.from(`NS: ${'p'.repeat(near1MiB)} <\r\n\r\nContent-Type: text/plain\r\n\r\nx`)],
    ['DateTime: long', Buffer.from(`DateTime: ${'2'.repeat(near1MiB)}\r\n\r\nContent-Type: text/plain\r\n\r\nx`)],
  ];
  for (const [what, raw] of inputs) {
    t.true(raw.length <= 1024 * 1024, what);
    withinCpu(t, what, () => {
      const r = parseCpim(raw);
      if (r.ok) {
        readImdnFields(r.message);
        cpimHeader(r.message, 'Message-ID', IMDN_NS);
      }
    });
  }
});

test('CPIM URI and NS readers keep their meaning', (t) => {
  const read = (headers: string) => {
    const r = parseCpim(Buffer.from(`${headers}\r\n\r\nContent-Type: text/plain\r\n\r\nx`));
    if (!r.ok) throw new Error(r.error);
    return r.message;
  };
  t.is(readImdnFields(read('From: "A" <sip:a@x>')).from, 'sip:a@x');
  t.is(readImdnFields(read('From: <><sip:b@x>')).from, 'sip:b@x');
  t.is(readImdnFields(read('From: <a<b>')).from, 'a<b');
  t.is(readImdnFields(read('From:  sip:c@x ')).from, 'sip:c@x');
  t.is(readImdnFields(read('From: <sip:d@x')).from, '<sip:d@x');
  t.deepEqual(readImdnFields(read('To: <tel:+1>\r\nTo: tel:+2')).to, ['tel:+1', 'tel:+2']);
  const ns = (v: string) => cpimHeader(read(`NS: ${v}\r\np.Message-ID: P\r\nMessage-ID: E`), 'Message-ID', IMDN_NS);
  t.is(ns(`p <${IMDN_NS}>`), 'P');
  t.is(ns(`p<${IMDN_NS}>`), 'P');
  t.is(ns(`<${IMDN_NS}>`), 'E', 'empty prefix');
  t.is(ns(`<  ${IMDN_NS} >`), 'E', 'URN trimmed');
  t.is(ns(`p q <${IMDN_NS}>`), undefined, 'a prefix has no whitespace');
  t.is(ns(`p <>`), undefined);
  t.is(ns(`p ${IMDN_NS}`), undefined);
});

test('property: the IMDN and FT readers never throw, on any string', (t) => {
  const fragments = fc.constantFrom(
    '<',
    '>',
    '</',
    '/>',
    '=',
    '"',
    "'",
    ' ',
    '\n',
    'imdn',
    'file',
    'file-info',
    'status',
    'delivered',
    'message-id',
    'datetime',
    'delivery-notification',
    ':',
    'x:',
    ` xmlns="${NS_IMDN}"`,
    ` xmlns="${NS_FT}"`,
    ' xmlns:x="urn:x"',
    ' xmlns:=""',
    ' type="file"',
    '&#x110000;',
    '&#xD800;',
    '&#0;',
    '&#65;',
    '&amp;',
    '&lt',
    '&lol;',
    '<!--',
    '-->',
    '<![CDATA[',
    ']]>',
    '<?xml version="1.0"?>',
    '<?xml ',
    '?>',
    '<!DOCTYPE x [',
    '<!ENTITY a "b">',
    ']>',
    '\uFEFF',
    '\uD800',
    '\u0000',
  );
  const xmlish = fc.array(fragments, { maxLength: 60 }).map((a) => a.join(''));
  const mutatedValid = fc
    .tuple(fc.nat(400), fc.nat(400), fc.string({ maxLength: 8 }), fc.boolean())
    .map(([at, len, ins, ft]) => {
      const base = ft ? ftWith('') : imdnWith('');
      return base.slice(0, at % base.length) + ins + base.slice((at % base.length) + (len % 10));
    });
  const arbitrary = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.string({ unit: 'grapheme', maxLength: 300 }),
    xmlish,
    mutatedValid,
  );
  fc.assert(
    fc.property(arbitrary, (s) => {
      for (const [, read] of readers) {
        const r = read(s);
        if (typeof r.ok !== 'boolean') return false;
        if (!r.ok && typeof r.error !== 'string') return false;
      }
      return true;
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('property: serialized IMDNs and descriptors read back whatever their text', (t) => {
  // Characters XML carries as they are (no tab or newline: attribute values are normalized and
  // the writers do not escape them); element text is trimmed by the readers, so none at the ends.
  const char = fc.constantFrom('a', 'Z', '0', '<', '>', '&', '"', "'", ';', '#', ']]>', 'é', '\u{1F600}', ' ');
  const text = fc.array(char, { minLength: 1, maxLength: 30 }).map((a) => `x${a.join('')}x`);
  fc.assert(
    fc.property(text, fc.option(text, { nil: undefined }), (id, subject) => {
      const n: ImdnNotification = {
        messageId: id,
        datetime: 'd',
        ...(subject === undefined ? {} : { subject }),
        kind: 'display',
        status: 'displayed',
      };
      const d: FtHttpDescriptor = {
        file: { url: `https://x/${id}`, until: id, size: 1, contentType: id, ...(subject ? { name: subject } : {}) },
      };
      return (
        isDeepStrictEqual(parseImdn(serializeImdn(n)), { ok: true, notification: n }) &&
        isDeepStrictEqual(parseFtHttp(serializeFtHttp(d)), { ok: true, descriptor: d })
      );
    }),
  );
  t.pass();
});
