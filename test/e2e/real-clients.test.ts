/**
 * End to end with real clients: the IWF behind Kamailio (a stateful proxy and registrar, RFC 3261
 * §16 and §10) talks to liblinphone (CPIM, RFC 3862, with IMDN, RFC 5438) and baresip (text/plain
 * only) in pager mode (RFC 3428), while a stand-in MMSC speaks MM4 (3GPP TS 23.140 §8.4) with it.
 *
 * Each part has its own loopback address, because Kamailio tells the directions apart by the
 * source address (requests from the IWF go to the registered contact, all others to the IWF).
 */
import test, { type ExecutionContext } from 'ava';
import { baresipAvailable, startBaresip } from '../helpers/baresip.js';
import { startTestIwf, startTestTemporal } from '../helpers/iwf.js';
import { freeUdpTcpPort, kamailioAvailable, startKamailio, type SipTransport } from '../helpers/kamailio.js';
import { buildLinphoneDriver, linphoneUnavailable, startLinphone } from '../helpers/linphone.js';
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
import type { DevServer } from '../../worker/dev-server.js';

const KAMAILIO = '127.0.0.30';
const IWF = '127.0.0.31';
const LINPHONE = '127.0.0.32';
const BARESIP = '127.0.0.33';

const SIP_DOMAIN = 'ims.iwf.example.net';
/** CPM users of the test configuration are +1202555*; the MMS side (operator-a) has +49. */
const CPM_USER = '+12025550199';
const CPM_PLAIN_USER = '+12025550198';
const MMS_USER = '+4915112345678';
const MMS_FROM = `${MMS_USER}/TYPE=PLMN@mms.mnc001.mcc001.gprs`;
const mmsTo = (n: string) => `${n}/TYPE=PLMN@mms.iwf.example.net`;

const TEXT = 'Grüße aus München — Привет, мир! 你好世界 مرحبا 🎉👍🏽 ✓';

const missing = [
  kamailioAvailable() ? undefined : 'kamailio is not installed (apt-get install kamailio)',
  linphoneUnavailable(),
  baresipAvailable() ? undefined : 'baresip is not installed (apt-get install baresip-core)',
].filter((m): m is string => m !== undefined);

/** Serial (real processes, shared addresses); skipped without the peers, failing under CI. */
const clientTest = (title: string, fn: (t: ExecutionContext) => Promise<void>) => {
  if (missing.length === 0) return test.serial(title, fn);
  if (process.env.CI) return test(title, (t) => t.fail(`${missing.join('; ')}; CI must run this test`));
  return test.skip(`${title} (${missing.join('; ')})`, () => undefined);
};

let temporal: DevServer | undefined;
/** Stops of everything started and not yet stopped, newest last. */
const running = new Set<() => Promise<void>>();
async function stopAll(stops: Array<() => Promise<void>>) {
  for (const stop of stops.reverse()) {
    running.delete(stop);
    await stop().catch(() => undefined);
  }
}

if (missing.length === 0) {
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
});

clientTest(
  'CPM -> MMS: liblinphone texts an MMS number; the reports come back as DeliveredToUser and Displayed',
  async (t) => {
    t.timeout(90_000);
    const late: { r?: Awaited<ReturnType<typeof rig>> } = {};
    const forwards: ReceivedMm4[] = [];
    const r = await rig(t, {
      transport: 'udp',
      onMm4: (m) => {
        if (m.type !== 'MM4_forward.REQ') return;
        forwards.push(m);
        // 3GPP TS 23.140 §8.4.2: the .RES is its own SMTP transaction toward the originator system.
        setTimeout(() => void late.r?.toIwf(mmscRes(m), [answerAddress(m)]), 20);
      },
    });
    late.r = r;
    const client = await r.linphone(CPM_USER, 'udp');

    const text = `to MMS: ${TEXT}`;
    const sent = await client.send(`sip:${MMS_USER}@${SIP_DOMAIN}`, text);
    const req = await waitFor(
      'MM4_forward.REQ',
      () => {
        // Fail at once, with the reason, when the IWF refuses the client's MESSAGE.
        const refusal = /REPLY (4\d\d|5\d\d) [^\n]* for MESSAGE from 127\.0\.0\.31\S*/.exec(r.kamailio.log());
        if (refusal) throw new Error(`the IWF refused the client's MESSAGE: ${refusal[0]}`);
        return forwards[0];
      },
      30_000,
    );
    t.is(req.text, text);
    t.deepEqual(req.envelope.to, [`${MMS_USER}/TYPE=PLMN@mms.mnc001.mcc001.gprs`]);
    t.regex(req.from, new RegExp(`^${escape(CPM_USER)}/TYPE=PLMN@`));

    // The recipient's MMSC reports retrieval, then the read (3GPP TS 23.140 §8.4.3, §8.4.4).
    t.true((await r.toIwf(mmscReport(req, { type: 'MM4_delivery_report.REQ', mmStatus: 'Retrieved' }, 'DR-real'))).ok);
    await client.waitForState(sent, 'DeliveredToUser', { timeoutMs: 30_000 });
    t.true((await r.toIwf(mmscReport(req, { type: 'MM4_read_reply_report.REQ', readStatus: 'Read' }, 'RR-real'))).ok);
    await client.waitForState(sent, 'Displayed', { timeoutMs: 30_000 });
    t.like(
      await waitFor('.RES for DR-real', () =>
        r.mmsc.received.find((m) => m.type === 'MM4_delivery_report.RES' && m.transactionId === 'DR-real'),
      ),
      { requestStatus: 'Ok' },
    );
    t.like(
      await waitFor('.RES for RR-real', () =>
        r.mmsc.received.find((m) => m.type === 'MM4_read_reply_report.RES' && m.transactionId === 'RR-real'),
      ),
      { requestStatus: 'Ok' },
    );
  },
);
