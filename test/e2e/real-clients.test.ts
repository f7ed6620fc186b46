/**
 * End to end with real clients: the IWF behind Kamailio (a stateful proxy and registrar, RFC 3261
 * §16 and §10) talks to liblinphone (CPIM, RFC 3862, with IMDN, RFC 5438) and baresip (text/plain
 * only) in pager mode (RFC 3428), while a stand-in MMSC speaks MM4 (3GPP TS 23.140 §8.4) with it.
 *
 * Each part has its own loopback address, because Kamailio tells the directions apart by the
 * source address (requests from the IWF go to the registered contact, all others to the IWF).
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { startBaresip } from '../helpers/baresip.js';
import { startTestIwf, startTestTemporal } from '../helpers/iwf.js';
import { freeUdpTcpPort, startKamailio, type SipTransport } from '../helpers/kamailio.js';
import { startFtServer } from '../helpers/ft-server.js';
import { buildLinphoneDriver, startLinphone, type SentMessage } from '../helpers/linphone.js';
import {
  answerAddress,
  MMSC_SYSTEM,
  forwardReq,
  mmscReport,
  mmscRes,
  sendMm4,
  startFakeMmsc,
  type ReceivedMm4,
} from '../helpers/mmsc.js';
import { waitFor } from '../helpers/ports.js';
import { auditQuery, mmsToCpmWorkflowId } from '../../workflows/messages.js';
import { testWith, toolsAvailable } from '../helpers/tools.js';
import type { DevServer } from '../../worker/dev-server.js';

const KAMAILIO = '127.0.0.30';
const IWF = '127.0.0.31';
const LINPHONE = '127.0.0.32';
const BARESIP = '127.0.0.33';
const FT = '127.0.0.34';

const SIP_DOMAIN = 'ims.iwf.example.net';
/** CPM users of the test configuration are +1202555*; the MMS side (operator-a) has +49. */
const CPM_USER = '+12025550199';
const CPM_PLAIN_USER = '+12025550198';
const MMS_USER = '+4915112345678';
const MMS_FROM = `${MMS_USER}/TYPE=PLMN@mms.mnc001.mcc001.gprs`;
const mmsTo = (n: string) => `${n}/TYPE=PLMN@mms.iwf.example.net`;

const TEXT = 'Grüße aus München — Привет, мир! 你好世界 مرحبا 🎉👍🏽 ✓';

const PEERS = ['kamailio', 'linphone', 'baresip'] as const;
/** Serial (real processes, shared addresses); skipped without the peers, failing under CI. */
const clientTest = testWith(...PEERS).serial;

let temporal: DevServer | undefined;
/** Stops of everything started and not yet stopped, newest last. */
const running = new Set<() => Promise<void>>();
async function stopAll(stops: Array<() => Promise<void>>) {
  for (const stop of stops.reverse()) {
    running.delete(stop);
    await stop().catch(() => undefined);
  }
}

if (toolsAvailable(...PEERS)) {
  test.before(async () => {
    buildLinphoneDriver();
    temporal = await startTestTemporal();
  });
}
test.after.always(async () => {
  await stopAll([...running]);
  await temporal?.stop();
});

/**
 * MMSC, IWF (SIP on IWF, outbound proxy and only trusted node Kamailio) and Kamailio; the clients
 * are started by `linphone()` / `baresip()`. Everything stops when the test ends.
 */
async function rig(t: ExecutionContext, o: { transport: SipTransport; onMm4?: (m: ReceivedMm4) => void }) {
  const mine: Array<() => Promise<void>> = [];
  const keep = <T extends { stop(): Promise<void> }>(p: T): T => {
    const stop = () => p.stop();
    mine.push(stop);
    running.add(stop);
    return p;
  };
  t.teardown(() => stopAll(mine));
  const logs: Array<{ log(): string }> = [];
  t.teardown(() => {
    if (!t.passed) for (const p of logs) t.log(p.log());
  });

  let iwfMm4Port = 0;
  const mmsc = await startFakeMmsc(0, (m) => o.onMm4?.(m));
  keep({ stop: () => mmsc.close() });
  const kamailioPort = await freeUdpTcpPort(KAMAILIO);
  const iwf = keep(
    await startTestIwf({
      temporalAddress: temporal!.address,
      mmscPort: mmsc.port,
      outboundProxyHost: KAMAILIO,
      outboundProxyPort: kamailioPort,
      proxyTransport: o.transport,
      sipListen: `${IWF}:0`,
      trusted: [KAMAILIO],
    }),
  );
  iwfMm4Port = iwf.mm4.port;
  mmsc.answerReports(iwfMm4Port);
  const kamailio = keep(
    await startKamailio({
      host: KAMAILIO,
      port: kamailioPort,
      iwf: { host: IWF, port: iwf.sip.port, transport: o.transport },
      aliases: [SIP_DOMAIN],
    }),
  );
  logs.push(kamailio);
  return {
    mmsc,
    iwf,
    kamailio,
    /** Sends an MM4 PDU to the IWF as the MMSC. */
    toIwf: (raw: string | Buffer, to = ['mm4-system@mms.iwf.example.net']) =>
      sendMm4(iwfMm4Port, raw, { from: MMSC_SYSTEM, to }),
    async linphone(user: string, transport: SipTransport) {
      const c = keep(
        await startLinphone({
          host: LINPHONE,
          user: `sip:${user}@${SIP_DOMAIN}`,
          proxy: kamailio,
          transport,
          cpim: true,
        }),
      );
      logs.push(c);
      await c.register();
      return c;
    },
    async baresip(user: string) {
      const c = keep(await startBaresip({ host: BARESIP, user: `sip:${user}@${SIP_DOMAIN}`, proxy: kamailio }));
      logs.push(c);
      await c.register();
      return c;
    },
    resFor: (transactionId: string, timeoutMs = 30_000) =>
      waitFor(
        `MM4_forward.RES for ${transactionId}`,
        () => mmsc.received.find((r) => r.type === 'MM4_forward.RES' && r.transactionId === transactionId),
        timeoutMs,
      ),
    report: (type: string, messageId: string, timeoutMs = 30_000) =>
      waitFor(
        `${type} for ${messageId}`,
        () => mmsc.received.find((r) => r.type === type && r.messageId === messageId),
        timeoutMs,
      ),
  };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Kamailio's request lines for the MESSAGEs liblinphone sent. In an MMS -> CPM test these are its
 * IMDNs only (delivered, then displayed; RFC 5438 §7.2.1.1), which it sends deflated (RFC 3261
 * §20.12): each must say `enc=deflate`, or the inflating path of the ingress went untested.
 */
function imdnLines(wire: string, transport: SipTransport): string[] {
  const lines = wire
    .split('\n')
    .filter((l) => new RegExp(`REQ MESSAGE \\S+ from ${escape(LINPHONE)}:\\d+/${transport} `).test(l));
  return lines.map((l) => /type=\S* enc=\S*/.exec(l)?.[0] ?? l);
}
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A 640x480 photo-like JPEG (smooth gradients plus noise) of 50-100 KB. */
async function photo(): Promise<Buffer> {
  const w = 640;
  const h = 480;
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const n = ((i * 2654435761) >>> 27) & 31;
      px[i] = (x * 255) / w + n;
      px[i + 1] = (y * 255) / h + n;
      px[i + 2] = 128 + n;
    }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 80 })
    .toBuffer();
}

/** An MM4_forward.REQ (3GPP TS 23.140 §8.4.1) whose MM is multipart/related: SMIL and one JPEG. */
function photoForwardReq(o: { messageId: string; from: string; to: string; jpeg: Buffer; name: string }): string {
  const b64 = o.jpeg.toString('base64').replace(/.{76}/g, '$&\r\n');
  return [
    `From: ${o.from}`,
    `To: ${o.to}`,
    `Sender: ${MMSC_SYSTEM}`,
    'Date: Tue, 04 Mar 2025 10:15:02 +0000',
    'Subject: Photo',
    `Message-ID: <${o.messageId}.rfc822@mms.mnc001.mcc001.gprs>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/related; boundary="b1"; type="application/smil"; start="<smil0>"',
    'X-Mms-3GPP-MMS-Version: 6.16.0',
    'X-Mms-Message-Type: MM4_forward.REQ',
    `X-Mms-Transaction-ID: "T-${o.messageId}"`,
    `X-Mms-Message-ID: "${o.messageId}"`,
    'X-Mms-Ack-Request: Yes',
    `X-Mms-Originator-System: ${MMSC_SYSTEM}`,
    'X-Mms-Delivery-Report: Yes',
    'X-Mms-Read-Reply: Yes',
    'X-Mms-Message-Class: Personal',
    '',
    '--b1',
    'Content-Type: application/smil',
    'Content-ID: <smil0>',
    '',
    '<smil><body><par dur="5s"><img src="cid:img1"/></par></body></smil>',
    '--b1',
    `Content-Type: image/jpeg; name="${o.name}"`,
    'Content-ID: <img1>',
    `Content-Location: ${o.name}`,
    'Content-Transfer-Encoding: base64',
    '',
    b64,
    '--b1--',
    '',
  ].join('\r\n');
}

for (const transport of ['udp', 'tcp'] as const) {
  clientTest(
    `MMS -> CPM over ${transport}: the text reaches liblinphone; its IMDNs become the delivery and read reports`,
    async (t) => {
      t.timeout(90_000);
      const r = await rig(t, { transport });
      const client = await r.linphone(CPM_USER, transport);

      const id = `M-real-${transport}`;
      const sent = await r.toIwf(
        forwardReq({ messageId: id, from: MMS_FROM, to: [mmsTo(CPM_USER)], text: TEXT, readReply: true }),
        [mmsTo(CPM_USER)],
      );
      t.true(sent.ok, JSON.stringify(sent));

      const got = await client.waitForMessage((m) => m.text === TEXT, { timeoutMs: 30_000 });
      t.regex(got.contentType ?? '', /^text\/plain/);
      t.regex(got.from ?? '', new RegExp(`^<?sip:${escape(MMS_USER)}@${escape(SIP_DOMAIN)}`));
      t.like(await r.resFor(`T-${id}`), { requestStatus: 'Ok', messageId: id });

      // The delivery IMDN liblinphone sends on receipt (deflated) -> MM4_delivery_report.REQ.
      const dr = await r.report('MM4_delivery_report.REQ', id);
      t.like(dr, { mmStatus: 'Retrieved', from: mmsTo(CPM_USER), to: [MMS_FROM] });

      // Marking the chat read sends the display IMDN -> MM4_read_reply_report.REQ.
      t.is(await client.markRead('*'), 1);
      const rr = await r.report('MM4_read_reply_report.REQ', id);
      t.like(rr, { readStatus: 'Read', from: mmsTo(CPM_USER), to: [MMS_FROM] });

      // On the wire: the client's IMDNs over the transport under test. The IWF's MESSAGE may go over
      // TCP even with sip.transport udp: with its IMS headers it exceeds 1300 bytes (RFC 3261 §18.1.1).
      const wire = r.kamailio.log();
      t.regex(wire, new RegExp(`REQ MESSAGE \\S+ from ${escape(IWF)}:\\d+/(udp|tcp) type=message/cpim`));
      t.regex(wire, new RegExp(`REQ MESSAGE \\S+ from ${escape(LINPHONE)}:\\d+/${transport} type=message/cpim`));
      t.deepEqual(imdnLines(wire, transport), ['type=message/cpim enc=deflate', 'type=message/cpim enc=deflate']);
    },
  );
}

clientTest(
  "MMS -> CPM short text over udp: the IWF's CPIM MESSAGE stays on UDP (under 1300 bytes, RFC 3261 §18.1.1)",
  async (t) => {
    t.timeout(90_000);
    const r = await rig(t, { transport: 'udp' });
    const client = await r.linphone(CPM_USER, 'udp');
    const text = 'Hi ✓';
    const id = 'M-real-short';
    const sent = await r.toIwf(forwardReq({ messageId: id, from: MMS_FROM, to: [mmsTo(CPM_USER)], text }), [
      mmsTo(CPM_USER),
    ]);
    t.true(sent.ok, JSON.stringify(sent));
    const got = await client.waitForMessage((m) => m.text === text, { timeoutMs: 30_000 });
    t.regex(got.contentType ?? '', /^text\/plain/);
    t.like(await r.report('MM4_delivery_report.REQ', id), { mmStatus: 'Retrieved' });
    const fromIwf = r.kamailio
      .log()
      .split('\n')
      .filter((l) => new RegExp(`REQ MESSAGE \\S+ from ${escape(IWF)}:\\d+/`).test(l))
      .map((l) => /\/(udp|tcp) type=\S+/.exec(l)?.[0]);
    t.deepEqual(fromIwf, ['/udp type=message/cpim']);
    t.deepEqual(imdnLines(r.kamailio.log(), 'udp'), ['type=message/cpim enc=deflate']);
  },
);

for (const transport of ['udp', 'tcp'] as const) {
  clientTest(
    `MMS -> CPM photo over ${transport}: liblinphone downloads the JPEG from the media server; its IMDNs become the reports`,
    async (t) => {
      t.timeout(90_000);
      const r = await rig(t, { transport });
      const client = await r.linphone(CPM_USER, transport);
      const jpeg = await photo();
      t.true(jpeg.length >= 50_000 && jpeg.length <= 100_000, `${jpeg.length} B`);

      const id = `M-real-photo-${transport}`;
      const sent = await r.toIwf(
        photoForwardReq({ messageId: id, from: MMS_FROM, to: mmsTo(CPM_USER), jpeg, name: 'beach.jpg' }),
        [mmsTo(CPM_USER)],
      );
      t.true(sent.ok, JSON.stringify(sent));
      t.like(await r.resFor(`T-${id}`), { requestStatus: 'Ok', messageId: id });

      // FT-over-HTTP (RCC.07 §3.2.5): the file-info's data url points at the IWF's media server.
      const got = await client.waitForMessage((m) => m.file !== undefined, { timeoutMs: 30_000 });
      // The driver reports the downloaded file's own type; the CPIM carried the file-info.
      t.deepEqual(
        got.contents.map((c) => [c.contentType, c.isFile]),
        [['image/jpeg', true]],
      );
      t.regex(got.from ?? '', new RegExp(`^<?sip:${escape(MMS_USER)}@${escape(SIP_DOMAIN)}`));
      t.is(got.file?.error, undefined);
      t.is(got.file?.contentType, 'image/jpeg');
      t.is(got.file?.name, 'beach.jpg');
      t.is(got.file?.size, jpeg.length);
      t.true(got.file?.url?.startsWith(`http://127.0.0.1:${r.iwf.media.port}/`), got.file?.url ?? '');
      t.is(got.file?.sha256, sha256(jpeg));
      t.deepEqual(readFileSync(got.file!.path!), jpeg);

      t.like(await r.report('MM4_delivery_report.REQ', id), {
        mmStatus: 'Retrieved',
        from: mmsTo(CPM_USER),
        to: [MMS_FROM],
      });
      t.is(await client.markRead('*'), 1);
      t.like(await r.report('MM4_read_reply_report.REQ', id), {
        readStatus: 'Read',
        from: mmsTo(CPM_USER),
        to: [MMS_FROM],
      });
      t.deepEqual(imdnLines(r.kamailio.log(), transport), [
        'type=message/cpim enc=deflate',
        'type=message/cpim enc=deflate',
      ]);
    },
  );
}

clientTest('a 5 KB text MMS reaches liblinphone over TCP although sip.transport is udp', async (t) => {
  t.timeout(90_000);
  const r = await rig(t, { transport: 'udp' });
  const client = await r.linphone(CPM_USER, 'tcp');
  let text = '';
  while (Buffer.byteLength(text) < 5 * 1024) text += 'Long MMS text — Ελληνικά, русский, 日本語 🎉. ';
  text = text.trimEnd();

  const id = 'M-real-big';
  const sent = await r.toIwf(forwardReq({ messageId: id, from: MMS_FROM, to: [mmsTo(CPM_USER)], text }), [
    mmsTo(CPM_USER),
  ]);
  t.true(sent.ok, JSON.stringify(sent));
  const got = await client.waitForMessage((m) => m.text === text, { timeoutMs: 30_000 });
  t.regex(got.contentType ?? '', /^text\/plain/);
  t.like(await r.resFor(`T-${id}`), { requestStatus: 'Ok' });
  // RFC 3261 §18.1.1: a request larger than 1300 bytes goes over a congestion-controlled transport.
  t.regex(r.kamailio.log(), new RegExp(`REQ MESSAGE \\S+ from ${escape(IWF)}:\\d+/tcp type=message/cpim`));
  t.like(await r.report('MM4_delivery_report.REQ', id), { mmStatus: 'Retrieved' });
});

clientTest('baresip (text/plain only) gets the MMS text as a text/plain MESSAGE', async (t) => {
  t.timeout(90_000);
  const r = await rig(t, { transport: 'udp' });
  const client = await r.baresip(CPM_PLAIN_USER);

  const id = 'M-real-plain';
  const sent = await r.toIwf(
    forwardReq({ messageId: id, from: MMS_FROM, to: [mmsTo(CPM_PLAIN_USER)], text: TEXT, deliveryReport: false }),
    [mmsTo(CPM_PLAIN_USER)],
  );
  t.true(sent.ok, JSON.stringify(sent));
  const got = await client.waitForMessage((m) => m.text === TEXT, { timeoutMs: 30_000 });
  t.is(got.status, 200);
  t.regex(got.contentType ?? '', /^text\/plain/);
  t.regex(got.from ?? '', new RegExp(escape(MMS_USER)));
  t.like(await r.resFor(`T-${id}`), { requestStatus: 'Ok' });
  // RFC 3428 §11.6 / RFC 3261 §21.4.13: the CPIM attempt, if any, was refused with 415 and Accept.
  // The IWF tried CPIM first and fell back to text/plain once.
  const refused = client.messages().filter((m) => m.status === 415);
  t.is(refused.length, 1);
  t.regex(refused[0].contentType ?? '', /^message\/cpim/);
  // The fallback is recorded in the delivery's audit trail (the attempt's note).
  const handle = r.iwf.client.workflow.getHandle(mmsToCpmWorkflowId(MMSC_SYSTEM, id));
  const step = await waitFor('the attempt in the audit trail', async () =>
    (await handle.query(auditQuery)).trail.find((e) => /^attempt 1: /.test(e.detail ?? '')),
  );
  t.regex(
    step.detail ?? '',
    /^attempt 1: 2\d\d accepted \(sent as text\/plain: the recipient refused message\/cpim \(415\)/,
  );
});

/**
 * The rig for CPM -> MMS: the MMSC answers each MM4_forward.REQ with its own .RES Ok (3GPP TS 23.140
 * §8.4.2: a separate SMTP transaction toward the originator system); a registered liblinphone.
 */
async function cpmToMmsRig(t: ExecutionContext, transport: SipTransport) {
  const late: { r?: Awaited<ReturnType<typeof rig>> } = {};
  const forwards: ReceivedMm4[] = [];
  const r = await rig(t, {
    transport,
    onMm4: (m) => {
      if (m.type !== 'MM4_forward.REQ') return;
      forwards.push(m);
      setTimeout(() => void late.r?.toIwf(mmscRes(m), [answerAddress(m)]), 20);
    },
  });
  late.r = r;
  const client = await r.linphone(CPM_USER, transport);
  const forward = (timeoutMs = 30_000) =>
    waitFor(
      'MM4_forward.REQ',
      () => {
        // Fail at once, with the reason, when the IWF refuses the client's MESSAGE.
        const refusal = new RegExp(`REPLY (4\\d\\d|5\\d\\d) [^\\n]* for MESSAGE from ${escape(IWF)}\\S*`).exec(
          r.kamailio.log(),
        );
        if (refusal) throw new Error(`the IWF refused the client's MESSAGE: ${refusal[0]}`);
        return forwards[0];
      },
      timeoutMs,
    );
  /** The MMSC reports retrieval, then the read (§8.4.3, §8.4.4); the client's message follows. */
  async function reportBack(req: ReceivedMm4, sent: SentMessage, tag: string) {
    t.true(
      (await r.toIwf(mmscReport(req, { type: 'MM4_delivery_report.REQ', mmStatus: 'Retrieved' }, `DR-${tag}`))).ok,
    );
    await client.waitForState(sent, 'DeliveredToUser', { timeoutMs: 30_000 });
    t.true((await r.toIwf(mmscReport(req, { type: 'MM4_read_reply_report.REQ', readStatus: 'Read' }, `RR-${tag}`))).ok);
    await client.waitForState(sent, 'Displayed', { timeoutMs: 30_000 });
    for (const [type, id] of [
      ['MM4_delivery_report.RES', `DR-${tag}`],
      ['MM4_read_reply_report.RES', `RR-${tag}`],
    ])
      t.like(
        await waitFor(`${type} for ${id}`, () =>
          r.mmsc.received.find((m) => m.type === type && m.transactionId === id),
        ),
        { requestStatus: 'Ok' },
      );
  }
  return { ...r, client, forward, reportBack };
}

for (const transport of ['udp', 'tcp'] as const) {
  clientTest(
    `CPM -> MMS over ${transport}: liblinphone texts an MMS number; the reports come back as DeliveredToUser and Displayed`,
    async (t) => {
      t.timeout(90_000);
      const r = await cpmToMmsRig(t, transport);
      const text = `to MMS: ${TEXT}`;
      const sent = await r.client.send(`sip:${MMS_USER}@${SIP_DOMAIN}`, text);
      const req = await r.forward();
      t.is(req.text, text);
      t.deepEqual(req.envelope.to, [`${MMS_USER}/TYPE=PLMN@mms.mnc001.mcc001.gprs`]);
      t.regex(req.from, new RegExp(`^${escape(CPM_USER)}/TYPE=PLMN@`));
      await r.reportBack(req, sent, `real-${transport}`);
      t.regex(
        r.kamailio.log(),
        new RegExp(`REQ MESSAGE \\S+ from ${escape(LINPHONE)}:\\d+/${transport} type=message/cpim`),
      );
    },
  );
}

for (const transport of ['udp', 'tcp'] as const) {
  clientTest(
    `CPM -> MMS file over ${transport}: liblinphone uploads a JPEG and sends it; the MMSC gets it byte for byte in an MM4_forward.REQ`,
    async (t) => {
      t.timeout(90_000);
      const r = await cpmToMmsRig(t, transport);
      const ft = await startFtServer(FT);
      t.teardown(() => ft.stop());
      const dir = mkdtempSync(join(tmpdir(), 'real-clients-ft-'));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      const jpeg = await photo();
      const path = join(dir, 'photo.jpg');
      writeFileSync(path, jpeg);

      const sent = await r.client.sendFile(`sip:${MMS_USER}@${SIP_DOMAIN}`, path, ft.url, 'image/jpeg');
      const req = await r.forward();
      t.deepEqual(ft.uploads, ['photo.jpg']);
      t.deepEqual(ft.downloads, [{ name: 'photo.jpg', from: '127.0.0.1' }], 'the IWF fetched the file once');
      t.deepEqual(req.envelope.to, [`${MMS_USER}/TYPE=PLMN@mms.mnc001.mcc001.gprs`]);
      t.regex(req.from, new RegExp(`^${escape(CPM_USER)}/TYPE=PLMN@`));
      const images = req.attachments.filter((a) => a.contentType === 'image/jpeg');
      t.is(images.length, 1, JSON.stringify(req.attachments.map((a) => [a.contentType, a.filename])));
      t.is(images[0].filename, 'photo.jpg');
      t.is(sha256(images[0].content), sha256(jpeg), 'a JPEG within the class passes through unchanged');
      await r.reportBack(req, sent, `real-file-${transport}`);
      t.regex(
        r.kamailio.log(),
        new RegExp(`REQ MESSAGE \\S+ from ${escape(LINPHONE)}:\\d+/${transport} type=message/cpim`),
      );
    },
  );
}
