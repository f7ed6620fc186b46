/**
 * CPM -> MMS end to end, all real: a SIP node of the IMS core sends a pager-mode MESSAGE to the
 * running IWF over UDP, an SMTP listener standing in for the recipient's MMSC checks the
 * MM4_forward.REQ and answers MM4_forward.RES over SMTP to the IWF's MM4 port, and IMDNs come back
 * through the outbound proxy.
 */
import test from 'ava';
import { Worker } from '@temporalio/worker';
import { createSipEndpoint, type SipEndpoint } from '../../clients/sip/endpoint.js';
import { cpimHeader, IMDN_NS, parseCpim } from '../../protocols/cpim/cpim.js';
import { parseImdn } from '../../protocols/cpim/imdn.js';
import type { SipRequest } from '../../protocols/sip/message.js';
import type { cpmToMms } from '../../workflows/cpm-to-mms.workflow.js';
import { auditQuery } from '../../workflows/messages.js';
import { startTestIwf, startTestTemporal, workflowBundle } from '../helpers/iwf.js';
import {
  answerAddress,
  MMSC_SYSTEM,
  mmscReport,
  mmscRes,
  sendMm4,
  startFakeMmsc,
  type ReceivedMm4,
} from '../helpers/mmsc.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { runSipp, SIPP_DIR } from '../helpers/sipp.js';
import { testWith } from '../helpers/tools.js';

/** The MMSC's answer per recipient number; undefined = it never answers. */
function mmscAnswer(to: string): string | undefined {
  if (to.startsWith('+4915100000000')) return 'Error-content-not-accepted';
  if (to.startsWith('+4915199999999') || to.startsWith('+4915188888888')) return undefined;
  return 'Ok';
}

let env: Awaited<ReturnType<typeof setup>>;
async function setup() {
  const temporal = await startTestTemporal();
  let iwfMm4Port = 0;
  const mmsc = await startFakeMmsc(0, (m: ReceivedMm4) => {
    if (m.type !== 'MM4_forward.REQ') return;
    const status = mmscAnswer(m.envelope.to[0]);
    if (!status) return;
    // The .RES is its own SMTP transaction toward X-Mms-Originator-System, i.e. the IWF (3GPP TS 23.140 §8.4.2).
    const res = mmscRes(m, status, `MMSC says ${status}`);
    setTimeout(() => void sendMm4(iwfMm4Port, res, { from: MMSC_SYSTEM, to: [answerAddress(m)] }), 20);
  });
  // One SIP node plays the S-CSCF that hands MESSAGEs to the IWF and the outbound proxy IMDNs reach.
  const imdns: SipRequest[] = [];
  const core: SipEndpoint = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 100, t2: 400 } });
  core.onRequest((req) => {
    imdns.push(req);
    return { status: 202 };
  });
  const iwf = await startTestIwf({
    temporalAddress: temporal.address,
    mmscPort: mmsc.port,
    outboundProxyPort: core.port,
  });
  iwfMm4Port = iwf.mm4.port;
  return { temporal, mmsc, core, imdns, iwf };
}

test.before(async () => {
  env = await setup();
});
test.after.always(async () => {
  await env?.iwf.stop();
  await env?.core.close();
  await env?.mmsc.close();
  await env?.temporal.stop();
});

function cpimText(o: { id: string; to: string; text?: string; dispo?: string; innerType?: string }): Buffer {
  return Buffer.from(
    [
      'From: <sip:anonymous@anonymous.invalid>',
      `To: <${o.to}>`,
      'DateTime: 2025-03-04T10:15:02.000Z',
      'Subject: Grüße',
      'NS: imdn <urn:ietf:params:imdn>',
      `imdn.Message-ID: ${o.id}`,
      ...(o.dispo ? [`imdn.Disposition-Notification: ${o.dispo}`] : []),
      '',
      `Content-Type: ${o.innerType ?? 'text/plain; charset=utf-8'}`,
      '',
      o.text ?? 'Hallo aus RCS ✓',
    ].join('\r\n'),
  );
}

let calls = 0;
function send(o: {
  id: string;
  number: string;
  text?: string;
  dispo?: string;
  body?: Buffer;
  pai?: string | null;
  from?: SipEndpoint;
  innerType?: string;
}) {
  const uri = `tel:${o.number}`;
  const headers = [
    { name: 'From', value: '<tel:+12025550101>;tag=t1' },
    { name: 'To', value: `<${uri}>` },
    { name: 'Call-ID', value: `call-${++calls}-${o.id}` },
    { name: 'CSeq', value: '1 MESSAGE' },
    ...(o.pai === null
      ? []
      : [
          {
            name: 'P-Asserted-Identity',
            value: o.pai ?? '<sip:+12025550101@ims.example.net;user=phone>, <tel:+12025550101>',
          },
        ]),
    { name: 'Content-Type', value: 'message/cpim' },
  ];
  const body = o.body ?? cpimText({ id: o.id, to: uri, text: o.text, dispo: o.dispo, innerType: o.innerType });
  return (o.from ?? env.core).sendRequest(
    { method: 'MESSAGE', uri, headers, body },
    { host: '127.0.0.1', port: env.iwf.sip.port, transport: 'udp' },
  );
}

const reqsTo = (number: string) =>
  env.mmsc.received.filter((r) => r.type === 'MM4_forward.REQ' && r.envelope.to[0].startsWith(number));
const imdnFor = (id: string) =>
  waitFor(`IMDN for ${id}`, () =>
    env.imdns.find((r) => {
      const c = parseCpim(r.body);
      return (
        c.ok &&
        parseImdn(c.message.content.body.toString()).ok &&
        c.message.content.body.toString().includes(`<message-id>${id}</message-id>`)
      );
    }),
  );
const handleFor = async (id: string) => {
  const [wf] = await waitFor(`workflow for ${id}`, async () => {
    const found = [];
    for await (const w of env.iwf.client.workflow.list({ query: `WorkflowType = "cpmToMms"` }))
      if (w.workflowId.endsWith(`/${id}`)) found.push(w);
    return found.length ? found : undefined;
  });
  return env.iwf.client.workflow.getHandle<typeof cpmToMms>(wf.workflowId);
};

test('a CPIM text MESSAGE becomes an MM4_forward.REQ and the MMSC .RES completes the delivery', async (t) => {
  const res = await send({ id: 'cpm-happy', number: '+4915112345678' });
  t.is(res.status, 202);
  const [req] = await waitFor('MM4_forward.REQ', () =>
    reqsTo('+4915112345678').length ? reqsTo('+4915112345678') : undefined,
  );
  t.is(
    req.from,
    '+12025550101/TYPE=PLMN@mms.iwf.example.net',
    'sender from P-Asserted-Identity (tel preferred), not the anonymous CPIM From',
  );
  t.deepEqual(req.to, ['+4915112345678/TYPE=PLMN@mms.mnc001.mcc001.gprs']);
  t.deepEqual(req.envelope.to, ['+4915112345678/TYPE=PLMN@mms.mnc001.mcc001.gprs'], 'RCPT TO');
  t.is(req.envelope.from, '+12025550101/TYPE=PLMN@mms.iwf.example.net', 'MAIL FROM');
  t.is(req.headers['x-mms-ack-request'], 'Yes');
  t.is(req.headers['x-mms-originator-system'], 'mm4-system@mms.iwf.example.net');
  t.is(req.headers['x-mms-delivery-report'], 'No');
  t.is(req.headers['x-mms-read-reply'], 'No');
  t.is(req.subject, 'Grüße');
  t.is(req.date, '2025-03-04T10:15:02.000Z');
  t.is(req.contentType.mediaType, 'text/plain');
  t.is(req.text, 'Hallo aus RCS ✓');
  t.regex(req.messageId ?? '', /^iwf1\./);
  t.regex(req.transactionId ?? '', /^iwf1\..*\.t1$/);

  const handle = await handleFor('cpm-happy');
  const outcome = await handle.result();
  t.like(outcome, { result: 'delivered', mm4Status: 'Ok', peer: 'operator-a', attempts: 1 });
  const audit = await handle.query(auditQuery);
  // State changes in order (a .RES that overtakes the send's completion is an in-place step).
  t.deepEqual(
    audit.trail.filter((e) => e.from !== e.to).map((e) => e.to),
    ['selecting', 'converting', 'adapting', 'sending', 'awaitingRes', 'accepted', 'done'],
  );
  t.true(audit.trail.some((e) => e.event === 'mm4.res'));
  t.regex(audit.trail[1].detail ?? '', /ISF: interwork \(recipient is not a CPM user/);
  const desc = await handle.describe();
  t.deepEqual(desc.searchAttributes.IwfDirection, ['cpm-to-mms']);
  t.deepEqual(desc.searchAttributes.IwfPeer, ['operator-a']);
  t.false(handle.workflowId.includes('12025550101'), 'no phone number in the workflow id');
});

test.after('every finished delivery replays deterministically against the current code', async (t) => {
  const histories = env.iwf.client.workflow.list({ query: 'ExecutionStatus = "Completed"' }).intoHistories();
  let n = 0;
  for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
    n++;
    if (r.error) t.fail(`${r.workflowId}: ${r.error.message}`);
  }
  t.true(n >= 5, `replayed ${n} histories`);
});

test('delivery notifications requested: the flags reach MM4 and the delivery waits for the report', async (t) => {
  t.is(
    (await send({ id: 'cpm-dr', number: '+4915112345679', dispo: 'positive-delivery, negative-delivery, display' }))
      .status,
    202,
  );
  const [req] = await waitFor('REQ', () => (reqsTo('+4915112345679').length ? reqsTo('+4915112345679') : undefined));
  t.is(req.headers['x-mms-delivery-report'], 'Yes');
  t.is(req.headers['x-mms-read-reply'], 'Yes');
  const handle = await handleFor('cpm-dr');
  await waitFor('awaitingReport', async () =>
    (await handle.query(auditQuery)).state === 'awaitingReport' ? true : undefined,
  );
  await handle.terminate('test done');
  t.pass();
});

test('a re-sent MESSAGE with the same imdn.Message-ID creates no second delivery', async (t) => {
  t.is((await send({ id: 'cpm-dup', number: '+4915112340000' })).status, 202);
  t.is((await send({ id: 'cpm-dup', number: '+4915112340000' })).status, 202);
  // Both MESSAGEs were answered 202, so every delivery they started exists; once each has ended
  // it has sent all it ever will.
  const handle = await handleFor('cpm-dup');
  await handle.result();
  const deliveries: string[] = [];
  for await (const w of env.iwf.client.workflow.list({ query: `WorkflowType = "cpmToMms"` }))
    if (w.workflowId.endsWith('/cpm-dup')) deliveries.push(w.workflowId);
  t.deepEqual(deliveries, [handle.workflowId], 'one delivery');
  t.is(reqsTo('+4915112340000').length, 1);
});

test('an MMSC error status fails the delivery with a negative-delivery IMDN to the sender', async (t) => {
  t.is((await send({ id: 'cpm-refused', number: '+4915100000000', dispo: 'negative-delivery' })).status, 202);
  const imdn = await imdnFor('cpm-refused');
  t.is(imdn.uri, 'tel:+12025550101', 'sent to the asserted sender (tel URI preferred)');
  const c = parseCpim(imdn.body);
  if (!c.ok) return t.fail(c.error);
  t.is(cpimHeader(c.message, 'From'), '<tel:+4915100000000>');
  t.is(cpimHeader(c.message, 'Disposition-Notification', IMDN_NS), undefined, 'an IMDN asks for no IMDN');
  t.deepEqual(
    c.message.content.headers.map((h) => h.name),
    ['Content-Type', 'Content-Disposition', 'Content-Length'],
  );
  const n = parseImdn(c.message.content.body.toString());
  t.like(n, {
    ok: true,
    notification: {
      kind: 'delivery',
      status: 'failed',
      messageId: 'cpm-refused',
      datetime: '2025-03-04T10:15:02.000Z',
    },
  });
  const outcome = await (await handleFor('cpm-refused')).result();
  t.like(outcome, { result: 'rejected', mm4Status: 'Error-content-not-accepted', imdnSent: true });
});

test('an MMSC that never answers gets the same message again, then the sender a failure IMDN', async (t) => {
  t.timeout(60_000);
  t.is((await send({ id: 'cpm-silent', number: '+4915199999999', dispo: 'negative-delivery' })).status, 202);
  await imdnFor('cpm-silent');
  const reqs = reqsTo('+4915199999999');
  t.is(reqs.length, 2);
  t.is(reqs[0].messageId, reqs[1].messageId, 'a resend reuses X-Mms-Message-ID');
  t.not(reqs[0].transactionId, reqs[1].transactionId);
  t.like(await (await handleFor('cpm-silent')).result(), {
    result: 'failed',
    mm4Status: 'Error-network-problem',
    attempts: 2,
  });
});

test('an unroutable recipient fails the delivery with a clear reason and a failure IMDN', async (t) => {
  t.is((await send({ id: 'cpm-noroute', number: '+33612345678', dispo: 'negative-delivery' })).status, 202);
  await imdnFor('cpm-noroute');
  const outcome = await (await handleFor('cpm-noroute')).result();
  t.like(outcome, { result: 'failed', mm4Status: 'Error-sending-address-unresolved' });
  t.regex(outcome.statusText, /no MMSC peer serves \+33612345678/);
  t.is(reqsTo('+33612345678').length, 0);
});

test('the SIP front-end refuses what can never be interworked with the standard 4xx', async (t) => {
  const malformed = await send({ id: 'x1', number: '+4915112345670', body: Buffer.from('not CPIM at all') });
  t.is(malformed.status, 400);
  t.regex(malformed.reason, /CPIM/);
  const cpmUser = await send({ id: 'x2', number: '+12025550199' });
  t.is(cpmUser.status, 404);
  t.regex(cpmUser.reason, /CPM user/);
  const noPai = await send({ id: 'x3', number: '+4915112345670', pai: null });
  t.is(noPai.status, 403);
  const big = await send({ id: 'x4', number: '+4915112345670', text: 'x'.repeat(70 * 1024) });
  t.true(big.status === 413 || big.status === 503, `too large: ${big.status}`);
  const image = await send({ id: 'x5', number: '+4915112345670', innerType: 'image/jpeg' });
  t.is(image.status, 415);
  t.is(image.headers.find((h) => h.name === 'Accept')?.value, 'message/cpim');
  const options = await env.core.sendRequest(
    {
      method: 'OPTIONS',
      uri: 'sip:iwf@127.0.0.1',
      headers: [
        { name: 'From', value: '<sip:a@b>;tag=1' },
        { name: 'To', value: '<sip:iwf@127.0.0.1>' },
        { name: 'Call-ID', value: 'opt-1' },
        { name: 'CSeq', value: '1 OPTIONS' },
      ],
    },
    { host: '127.0.0.1', port: env.iwf.sip.port, transport: 'udp' },
  );
  t.is(options.status, 200);
  t.is(reqsTo('+4915112345670').length, 0);
});

test('a MESSAGE from an untrusted source is refused with 403', async (t) => {
  const stranger = await createSipEndpoint({ host: '127.0.0.7', port: 0, timers: { t1: 100 } });
  try {
    const res = await send({ id: 'x6', number: '+4915112345671', from: stranger });
    t.is(res.status, 403);
  } finally {
    await stranger.close();
  }
});

testWith('sipp')('SIPp as the sending CPM side gets 202 and its text reaches the MMSC', async (t) => {
  const run = runSipp(
    `${SIPP_DIR}uac-message.xml`,
    [
      `127.0.0.1:${env.iwf.sip.port}`,
      '-s',
      '+4915155555555',
      '-i',
      '127.0.0.1',
      '-p',
      String(await freePort()),
      '-t',
      'u1',
      '-m',
      '1',
    ],
    30,
  );
  const { code, stderr, messages } = await run.done;
  t.is(code, 0, `${stderr}\n${messages}`);
  const [req] = await waitFor('REQ from SIPp', () =>
    reqsTo('+4915155555555').length ? reqsTo('+4915155555555') : undefined,
  );
  t.is(req.text, 'Hello from SIPp');
});

const toIwf = (raw: Buffer) =>
  sendMm4(env.iwf.mm4.port, raw, { from: MMSC_SYSTEM, to: ['mm4-system@mms.iwf.example.net'] });
const resOf = (tid: string) =>
  waitFor(`.RES for ${tid}`, () => env.mmsc.received.find((r) => r.type.endsWith('.RES') && r.transactionId === tid));
const imdnsFor = (id: string) =>
  env.imdns
    .map((r) => parseCpim(r.body))
    .flatMap((c) => (c.ok ? [parseImdn(c.message.content.body.toString())] : []))
    .flatMap((n) => (n.ok && n.notification.messageId === id ? [n.notification] : []));

test('MMS delivery and read reports reach the CPM sender as IMDNs, and the MMSC gets its .RES', async (t) => {
  t.is((await send({ id: 'cpm-reports', number: '+4915112345690', dispo: 'positive-delivery, display' })).status, 202);
  const [req] = await waitFor('REQ', () => (reqsTo('+4915112345690').length ? reqsTo('+4915112345690') : undefined));
  const handle = await handleFor('cpm-reports');
  await waitFor('awaitingReport', async () =>
    (await handle.query(auditQuery)).state === 'awaitingReport' ? true : undefined,
  );

  t.true((await toIwf(mmscReport(req, { type: 'MM4_delivery_report.REQ', mmStatus: 'Retrieved' }, 'DR-1'))).ok);
  t.like(await resOf('DR-1'), { type: 'MM4_delivery_report.RES', requestStatus: 'Ok', messageId: req.messageId });
  await waitFor('IMDN delivered', () => (imdnsFor('cpm-reports').length ? true : undefined));
  // The same report again (the MMSC did not see our .RES): answered, not forwarded twice.
  t.true((await toIwf(mmscReport(req, { type: 'MM4_delivery_report.REQ', mmStatus: 'Retrieved' }, 'DR-1b'))).ok);
  await resOf('DR-1b');

  t.true((await toIwf(mmscReport(req, { type: 'MM4_read_reply_report.REQ', readStatus: 'Read' }, 'RR-1'))).ok);
  t.like(await resOf('RR-1'), { type: 'MM4_read_reply_report.RES', requestStatus: 'Ok' });
  const outcome = await handle.result();
  t.like(outcome, { result: 'delivered', report: 'Retrieved', imdnSent: true });
  // A report after the delivery ended: known message, so answered Ok; nothing is forwarded.
  t.true((await toIwf(mmscReport(req, { type: 'MM4_delivery_report.REQ', mmStatus: 'Expired' }, 'DR-late'))).ok);
  t.like(await resOf('DR-late'), { type: 'MM4_delivery_report.RES', requestStatus: 'Ok' });
  t.deepEqual(
    imdnsFor('cpm-reports').map((n) => `${n.kind}:${n.status}`),
    ['delivery:delivered', 'display:displayed'],
  );
});

test('a read report without a delivery report counts as delivered: both IMDNs reach the sender', async (t) => {
  t.is(
    (await send({ id: 'cpm-read-only', number: '+4915112345691', dispo: 'positive-delivery, display' })).status,
    202,
  );
  const [req] = await waitFor('REQ', () => (reqsTo('+4915112345691').length ? reqsTo('+4915112345691') : undefined));
  const handle = await handleFor('cpm-read-only');
  await waitFor('awaitingReport', async () =>
    (await handle.query(auditQuery)).state === 'awaitingReport' ? true : undefined,
  );
  // An MMSC that sends read reports but never delivery reports.
  t.true((await toIwf(mmscReport(req, { type: 'MM4_read_reply_report.REQ', readStatus: 'Read' }, 'RR-only'))).ok);
  t.like(await resOf('RR-only'), { type: 'MM4_read_reply_report.RES', requestStatus: 'Ok' });
  t.like(await handle.result(), { result: 'delivered', report: 'Retrieved', imdnSent: true });
  t.deepEqual(
    imdnsFor('cpm-read-only').map((n) => `${n.kind}:${n.status}`),
    ['delivery:delivered', 'display:displayed'],
  );
});

test('every MMS delivery status reaches the sender as its IMDN; interim ones wait, later ones are not forwarded', async (t) => {
  const cases = [
    { n: '+4915177700001', reports: ['Expired'], imdn: 'failed' },
    { n: '+4915177700002', reports: ['Rejected'], imdn: 'failed' },
    { n: '+4915177700003', reports: ['Rejected/rejection-by-MMS-recipient'], imdn: 'forbidden' },
    { n: '+4915177700004', reports: ['Unrecognised'], imdn: 'failed' },
    { n: '+4915177700005', reports: ['Indeterminate'], imdn: 'error' },
    { n: '+4915177700006', reports: ['Deferred', 'Retrieved'], imdn: 'delivered' },
    { n: '+4915177700007', reports: ['Forwarded', 'Expired', 'Retrieved'], imdn: 'failed' },
  ];
  await Promise.all(
    cases.map(async ({ n, reports, imdn }, i) => {
      const id = `map-${i}`;
      t.is((await send({ id, number: n, dispo: 'positive-delivery, negative-delivery' })).status, 202);
      const [req] = await waitFor(`REQ to ${n}`, () => (reqsTo(n).length ? reqsTo(n) : undefined));
      const handle = await handleFor(id);
      await waitFor(`${id} awaitingReport`, async () =>
        (await handle.query(auditQuery)).state === 'awaitingReport' ? true : undefined,
      );
      for (const [j, r] of reports.entries()) {
        const [mmStatus, extension] = r.split('/');
        t.true(
          (await toIwf(mmscReport(req, { type: 'MM4_delivery_report.REQ', mmStatus, extension }, `DR-${id}-${j}`))).ok,
        );
        t.like(await resOf(`DR-${id}-${j}`), { requestStatus: 'Ok' }, 'every report is answered');
      }
      const outcome = await handle.result();
      t.is(
        outcome.report,
        reports.find((r) => r !== 'Deferred' && r !== 'Forwarded')!.split('/')[0],
        `${id}: the first final status stays`,
      );
      t.deepEqual(
        imdnsFor(id).map((x) => `${x.kind}:${x.status}`),
        [`delivery:${imdn}`],
        `${id}: ${reports.join(' then ')}`,
      );
    }),
  );
});

test('a delivery report that overtakes a lost MM4_forward.RES completes the delivery without a resend', async (t) => {
  const n = '+4915188888888';
  t.is((await send({ id: 'early-report', number: n, dispo: 'positive-delivery' })).status, 202);
  const [req] = await waitFor('REQ', () => (reqsTo(n).length ? reqsTo(n) : undefined));
  t.true((await toIwf(mmscReport(req, { type: 'MM4_delivery_report.REQ', mmStatus: 'Retrieved' }, 'DR-early'))).ok);
  const outcome = await (await handleFor('early-report')).result();
  t.like(outcome, { result: 'delivered', report: 'Retrieved', attempts: 1 });
  t.is(reqsTo(n).length, 1, 'not resent: the report proves the MMSC has it');
  t.deepEqual(
    imdnsFor('early-report').map((x) => x.status),
    ['delivered'],
  );
});

test('a report for an unknown message is answered Error-message-not-found', async (t) => {
  const fake = {
    messageId: 'iwf1.bm9wZS9ub3BlL25vcGU.m',
    to: ['+4915100000001/TYPE=PLMN@mms.mnc001.mcc001.gprs'],
    from: '+12025550101/TYPE=PLMN@mms.iwf.example.net',
  };
  t.true((await toIwf(mmscReport(fake, { type: 'MM4_delivery_report.REQ', mmStatus: 'Expired' }, 'DR-unknown'))).ok);
  t.like(await resOf('DR-unknown'), { type: 'MM4_delivery_report.RES', requestStatus: 'Error-message-not-found' });
});

test('processing asked: the MMSC .RES Ok reaches the sender as a processing IMDN processed', async (t) => {
  const n = '+4915112345692';
  t.is((await send({ id: 'cpm-processing', number: n, dispo: 'processing' })).status, 202);
  const handle = await handleFor('cpm-processing');
  t.like(await handle.result(), { result: 'delivered', mm4Status: 'Ok', imdnSent: true });
  t.is(reqsTo(n).length, 1);
  const imdn = await imdnFor('cpm-processing');
  t.is(imdn.uri, 'tel:+12025550101', 'to the asserted sender');
  t.deepEqual(
    imdnsFor('cpm-processing').map((x) => `${x.kind}:${x.status}`),
    ['processing:processed'],
  );
  // The IMDN answers the .RES: the machine sent it only after the MM4_forward.RES Ok came.
  const { trail } = await handle.query(auditQuery);
  const res = trail.findIndex((e) => e.event === 'mm4.res');
  const notifying = trail.findIndex((e) => e.to === 'notifyingProcessed');
  t.true(res >= 0 && res < notifying, JSON.stringify(trail));
  t.is(trail.at(-1)?.to, 'done');
  // The history carries the patch marker; it replays in the after-hook with the others.
  const history = await handle.fetchHistory();
  t.true(
    history.events!.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch'),
    'patched(processing-imdn) recorded',
  );
});
