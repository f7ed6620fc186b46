/**
 * R4: hostile inputs through the real front-ends. The committed corpus (reliability/corpus/, see
 * generate.ts) goes to the MM4 port (SMTP), the SIP port (UDP and TCP) and the media server (HTTP);
 * each input is owed a protocol answer within a bound (SMTP 2xx/4xx/5xx, RFC 5321 §4.2; a SIP final
 * response, RFC 3261 §8.2; an HTTP status, RFC 9110 §15), never a hang or a crash. Then a
 * time-bounded mutation fuzz of test/fixtures/ vectors over SMTP and SIP, counting crashes and hangs.
 * The process must be alive and deliver a health check afterwards.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  alive,
  emptyResult,
  fillSipTemplate,
  MMS_ENVELOPE,
  ROOT,
  sipOverTcp,
  sipUdpOnce,
  smtpRaw,
  type GroupResult,
  type Rig,
} from '../harness.js';

const CORPUS = join(ROOT, 'reliability/corpus');
/** Longest wait for an owed answer. Generous: 1 MB inputs on a loaded 2-core machine. */
const BOUND_MS = 10_000;
/** How long a datagram that may be dropped is given. */
const DROP_MS = 2000;
/** Largest UDP payload sent (IPv4: 65,507; RFC 3261 §18.1.1 would move big requests to TCP). */
const MAX_DATAGRAM = 65_000;

type Manifest = Record<string, { file: string; expect: 'answer' | 'any'; tcpClose?: boolean; note: string }[]>;

const CRLF = '\r\n';
/** A MESSAGE around a body (the corpus' cpim/imdn/fthttp/uri inputs), Via filled in when sent. */
function message(body: Buffer, contentType = 'message/cpim', ruri = 'tel:+4915112345678'): Buffer {
  const head = [
    `MESSAGE ${ruri} SIP/2.0`,
    'Via: SIP/2.0/{{TRANSPORT}} 127.0.0.1:5999;rport;branch={{BRANCH}}',
    'Max-Forwards: 70',
    '<tel:+12025550101>;tag=r4'.replace(/^/, 'From: '),
    `To: <${ruri}>`,
    `Call-ID: r4-${randomBytes(6).toString('hex')}@core.example.net`,
    'CSeq: 1 MESSAGE',
    'P-Asserted-Identity: <tel:+12025550101>',
    `Content-Type: ${contentType}`,
    `Content-Length: ${body.length}`,
    '',
    '',
  ].join(CRLF);
  return Buffer.concat([Buffer.from(head, 'utf8'), body]);
}

function cpimAround(inner: Buffer, innerType: string): Buffer {
  return Buffer.concat([
    Buffer.from(
      [
        'From: <tel:+12025550101>',
        'To: <tel:+4915112345678>',
        'DateTime: 2025-03-04T10:15:02.000Z',
        'NS: imdn <urn:ietf:params:imdn>',
        `imdn.Message-ID: r4-${randomBytes(6).toString('hex')}`,
        '',
        `Content-Type: ${innerType}`,
        `Content-Length: ${inner.length}`,
        '',
        '',
      ].join(CRLF),
    ),
    inner,
  ]);
}

/** An HTTP request as is; resolves with the status, 'closed' (no status line) or 'timeout'. */
function httpRaw(port: number, bytes: Buffer, timeoutMs: number): Promise<number | 'closed' | 'timeout'> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let buf = '';
    let done = false;
    const finish = (v: number | 'closed' | 'timeout') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      const m = /^HTTP\/\d\.\d (\d{3})/.exec(buf);
      if (m) finish(Number(m[1]));
    });
    s.on('error', () => finish('closed'));
    s.on('close', () => finish('closed'));
    s.write(bytes);
    // A request with a body it never sends (huge Content-Length) is ended by us: the server must answer.
    setTimeout(() => s.end(), 2000).unref();
  });
}

/**
 * SIP 5xx other than these is a server error on a client's mistake (RFC 3261 §21.4 has the 4xx);
 * 501 is the answer for a method it does not implement (§21.5.2), 505 for the version (§21.5.6).
 */
const SIP_OK_5XX = new Set([501, 503, 505, 513]);

interface Outcome {
  input: string;
  via: string;
  answer: string;
  bad?: 'hang' | 'violation';
}

export async function r4Hostile(
  rig: Rig,
  o: { short: boolean; fuzzMs: number; log: (s: string) => void },
): Promise<GroupResult> {
  const r = emptyResult('R4', 'hostile corpus + mutation fuzz through the real front-ends');
  r.rssBeforeKb = rig.iwf.rssKb();
  const crashesBefore = rig.iwf.unexpectedExits.length;
  const pid = rig.iwf.pid;
  const manifest = JSON.parse(readFileSync(join(CORPUS, 'manifest.json'), 'utf8')) as Manifest;
  const { mm4, sip, media } = rig.iwf.ports;
  const outcomes: Outcome[] = [];

  const sendSip = async (input: string, bytes: Buffer, expect0: 'answer' | 'any', tcpClose = false) => {
    const transports: ('UDP' | 'TCP')[] = bytes.length <= MAX_DATAGRAM ? ['UDP', 'TCP'] : ['TCP'];
    for (const t of transports) {
      // A stream without CRLF CRLF has no end of its header block (RFC 3261 §7.5, §18.3): nothing to answer yet.
      const expect = t === 'TCP' && !bytes.includes('\r\n\r\n') ? 'any' : expect0;
      const filled = fillSipTemplate(bytes, t);
      const bound = expect === 'answer' ? BOUND_MS : DROP_MS;
      const a = t === 'UDP' ? await sipUdpOnce(sip, filled, bound) : await sipOverTcp(sip, filled, bound);
      const out: Outcome = { input, via: `sip/${t.toLowerCase()}`, answer: String(a) };
      if (typeof a === 'number') {
        if (a >= 500 && !SIP_OK_5XX.has(a)) out.bad = 'violation';
      } else if (expect === 'answer') {
        if (a === 'timeout') out.bad = 'hang';
        // A server may close a stream carrying more than it takes in one message instead of reading
        // it all (RFC 3261 §18.3, 513 is for what it did read); below 64 KiB it owes an answer.
        else if (filled.length <= 65_536 && !(t === 'TCP' && tcpClose)) out.bad = 'violation';
        else out.answer = `${a} (${Math.round(filled.length / 1024)} KiB)`;
      } else if (a === 'timeout' && t === 'TCP') {
        // Nothing owed; the connection stays open until the server's idle timeout.
        out.answer = 'held open';
      }
      outcomes.push(out);
    }
  };

  for (const [kind, entries] of Object.entries(manifest)) {
    for (const e of entries) {
      const input = `${kind}/${e.file}`;
      const bytes = readFileSync(join(CORPUS, kind, e.file));
      switch (kind) {
        case 'mime':
        case 'mm4': {
          const a = await smtpRaw(mm4, bytes, { timeoutMs: BOUND_MS, to: MMS_ENVELOPE.to });
          outcomes.push({
            input,
            via: 'smtp',
            answer: `${a.code} at ${a.stage}`,
            ...(a.code === 'timeout'
              ? { bad: 'hang' as const }
              : a.code === 'closed'
                ? { bad: 'violation' as const }
                : {}),
          });
          break;
        }
        case 'sip':
          await sendSip(input, bytes, e.expect, e.tcpClose);
          break;
        case 'cpim':
          await sendSip(input, message(bytes), 'answer');
          break;
        case 'imdn':
          await sendSip(input, message(cpimAround(bytes, 'message/imdn+xml')), 'answer');
          break;
        case 'fthttp':
          await sendSip(input, message(cpimAround(bytes, 'application/vnd.gsma.rcs-ft-http+xml')), 'answer');
          break;
        case 'uri': {
          // A URI with a line break in it would be another header: sent as written (that is the test).
          await sendSip(
            input,
            message(cpimAround(Buffer.from('corpus'), 'text/plain'), 'message/cpim', bytes.toString('utf8').trim()),
            'answer',
          );
          break;
        }
        case 'http': {
          const a = await httpRaw(media, bytes, BOUND_MS);
          outcomes.push({
            input,
            via: 'http',
            answer: String(a),
            ...(a === 'timeout'
              ? { bad: 'hang' as const }
              : a === 'closed' || a >= 500
                ? { bad: 'violation' as const }
                : {}),
          });
          break;
        }
        default:
          break;
      }
      if (!alive(pid)) {
        r.failures.push(`the IWF died after ${input}: ${rig.iwf.recentLog(8)}`);
        break;
      }
    }
    if (!alive(pid)) break;
  }
  const corpusInputs = Object.values(manifest).reduce((n, l) => n + l.length, 0);
  r.cases += corpusInputs;
  r.figures.corpusInputs = corpusInputs;
  r.figures.corpusSends = outcomes.length;
  const classes: Record<string, number> = {};
  for (const out of outcomes) {
    const cls = `${out.via} ${out.answer.replace(/^(\d)\d\d/, '$1xx').replace(/ at .*/, '')}`;
    classes[cls] = (classes[cls] ?? 0) + 1;
    if (out.bad === 'hang') r.hangs++;
    if (out.bad === 'violation') r.violations++;
    if (out.bad) r.failures.push(`${out.bad}: ${out.input} via ${out.via} -> ${out.answer}`);
  }
  for (const [k, v] of Object.entries(classes).sort()) r.figures[`answers ${k}`] = v;

  // Mutation fuzz of the test vectors.
  if (alive(pid) && o.fuzzMs > 0) {
    const f = await fuzz(rig, o.fuzzMs);
    r.cases += f.sent;
    r.hangs += f.hangs;
    r.violations += f.violations;
    r.failures.push(...f.failures);
    r.figures.fuzzSent = f.sent;
    r.figures.fuzzAnswered = f.answered;
    r.figures.fuzzHangs = f.hangs;
    o.log(`R4 fuzz: ${f.sent} mutated inputs in ${o.fuzzMs} ms, ${f.answered} answered, ${f.hangs} hangs`);
  }

  r.crashes = rig.iwf.unexpectedExits.length - crashesBefore;
  if (!alive(pid)) {
    r.crashes = Math.max(1, r.crashes);
    await rig.iwf.start().catch(() => {}); // the groups after this one need an IWF
  } else if (!(await rig.healthy())) {
    r.lost++;
    r.failures.push('the health delivery after R4 did not complete');
  }
  r.rssAfterKb = rig.iwf.rssKb();
  return r;
}

/** A small deterministic PRNG (mulberry32), so a fuzz run can be repeated from its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NASTY = [
  '\u0000',
  '\r',
  '\n',
  '\r\n',
  '\r\n\r\n',
  ':',
  ';',
  '<',
  '>',
  '"',
  '%',
  '=?',
  '?=',
  '\\',
  '\u00ff',
  '--',
  '\t',
  ' ',
  '9999999999',
  '-1',
  '&#x110000;',
];

function mutate(src: Buffer, rnd: () => number): Buffer {
  let b = Buffer.from(src);
  const n = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rnd() * b.length);
    switch (Math.floor(rnd() * 7)) {
      case 0: // bit flip
        b[at] ^= 1 << Math.floor(rnd() * 8);
        break;
      case 1: // insert a nasty token
        b = Buffer.concat([
          b.subarray(0, at),
          Buffer.from(NASTY[Math.floor(rnd() * NASTY.length)], 'latin1'),
          b.subarray(at),
        ]);
        break;
      case 2: // delete a run
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(rnd() * 32)))]);
        break;
      case 3: // duplicate a chunk
        {
          const len = Math.floor(rnd() * 200);
          b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
        }
        break;
      case 4: // truncate
        b = b.subarray(0, at);
        break;
      case 5: // a long run of one byte
        b = Buffer.concat([b.subarray(0, at), Buffer.alloc(Math.floor(rnd() * 5000), b[at] ?? 0x41), b.subarray(at)]);
        break;
      default:
        {
          // swap two lines
          const lines = b.toString('latin1').split('\r\n');
          const x = Math.floor(rnd() * lines.length);
          const y = Math.floor(rnd() * lines.length);
          [lines[x], lines[y]] = [lines[y], lines[x]];
          b = Buffer.from(lines.join('\r\n'), 'latin1');
        }
        break;
    }
  }
  return b;
}

async function fuzz(rig: Rig, ms: number) {
  const fixtures = join(ROOT, 'test/fixtures');
  const eml = readdirSync(fixtures)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => readFileSync(join(fixtures, f)));
  const sipVectors = readdirSync(fixtures)
    .filter((f) => f.startsWith('sip-') && f.endsWith('.txt'))
    .map((f) =>
      Buffer.from(
        readFileSync(join(fixtures, f), 'latin1')
          .replace(/\r?\n/g, '\r\n')
          .replace(/^Via: .*$/m, 'Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch={{BRANCH}}'),
        'latin1',
      ),
    );
  const seed = 0x5eed;
  const rnd = prng(seed);
  const end = Date.now() + ms;
  let sent = 0;
  let answered = 0;
  let hangs = 0;
  let violations = 0;
  const failures: string[] = [];
  const pid = rig.iwf.pid;
  const worker = async () => {
    while (Date.now() < end && alive(pid)) {
      const smtp = rnd() < 0.5;
      const src = smtp ? eml[Math.floor(rnd() * eml.length)] : sipVectors[Math.floor(rnd() * sipVectors.length)];
      const m = mutate(src, rnd);
      sent++;
      if (smtp) {
        const a = await smtpRaw(rig.iwf.ports.mm4, m, { timeoutMs: BOUND_MS, to: MMS_ENVELOPE.to });
        if (typeof a.code === 'number') answered++;
        else if (a.code === 'timeout') {
          hangs++;
          failures.push(`fuzz hang: SMTP no reply at ${a.stage} (seed ${seed}, input ${sent}, ${m.length} bytes)`);
        } else {
          violations++;
          failures.push(`fuzz: SMTP connection closed without a reply at ${a.stage} (seed ${seed}, input ${sent})`);
        }
      } else {
        const filled = fillSipTemplate(m, 'UDP');
        // Owed an answer only while the lines a response is built from are intact (RFC 3261 §8.2.6.2).
        const text = filled.toString('latin1');
        const lines = src.toString('latin1').split('\r\n');
        const head = text.slice(0, Math.max(0, text.indexOf('\r\n\r\n') + 2));
        const owed =
          head.startsWith(`${lines[0]}\r\n`) &&
          lines
            .filter((l) => /^(From|To|Call-ID|CSeq|Content-Length):/.test(l))
            .every((l) => head.includes(`\r\n${l}\r\n`)) &&
          /\r\nVia: SIP\/2\.0\/UDP 127\.0\.0\.1:5999;rport;branch=z9hG4bK-[0-9a-f]+\r\n/.test(head);
        const a = await sipUdpOnce(rig.iwf.ports.sip, filled, owed ? BOUND_MS : 500);
        if (typeof a === 'number') {
          answered++;
          if (a >= 500 && !SIP_OK_5XX.has(a)) {
            violations++;
            failures.push(
              `fuzz: SIP ${a} for a mutated request (seed ${seed}, input ${sent}): ${JSON.stringify(text.slice(0, 300))}`,
            );
          }
        } else if (owed && a === 'timeout') {
          hangs++;
          failures.push(
            `fuzz hang: SIP no answer (seed ${seed}, input ${sent}): ${JSON.stringify(text.slice(0, 300))}`,
          );
        }
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return { sent, answered, hangs, violations, failures: failures.slice(0, 20) };
}
