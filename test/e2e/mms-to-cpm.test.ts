/**
 * End to end, all real: an SMTP client sends MM4 to the running IWF (real Temporal dev server,
 * worker, SIP over UDP), a SIP peer at the outbound proxy answers, and MM4_forward.RES arrives at
 * a real SMTP listener standing in for the originating MMSC.
 */
import test from 'ava';
import { Worker } from '@temporalio/worker';
import { buildImdnCpim, cpimHeader, IMDN_NS, parseCpim, serializeCpim } from '../../protocols/cpim/cpim.js';
import type { ImdnNotification } from '../../protocols/cpim/imdn.js';
import { createSipEndpoint } from '../../clients/sip/endpoint.js';
import { getHeader } from '../../protocols/sip/message.js';
import { auditQuery, mmsToCpmWorkflowId } from '../../workflows/messages.js';
import { workflowBundle } from '../helpers/iwf.js';
import { forwardReq, mmscRes, sendMm4 } from '../helpers/mmsc.js';
import { waitFor } from '../helpers/ports.js';
import { startMmsToCpmRig } from '../helpers/rig.js';

const ORIGIN = 'system-user@mms.mnc001.mcc001.gprs';
const envelopeTo = (n: string) => ({
  from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
  to: [`+${n}/TYPE=PLMN@mms.iwf.example.net`],
});
const to = (n: string) => [`+${n}/TYPE=PLMN@mms.iwf.example.net`];

// Recipient numbers choose the CPM side's behaviour.
const tries = new Map<string, number>();
const answer = (requestUri: string) => {
  const uri = /\+\d+/.exec(requestUri)?.[0] ?? requestUri; // the number, whatever the URI form
  const n = (tries.get(uri) ?? 0) + 1;
  tries.set(uri, n);
  if (uri.endsWith('0404')) return 404;
  if (uri.endsWith('0503') || uri.endsWith('0513')) return 503;
  if (uri.endsWith('0480')) return n === 1 ? 480 : 202;
  return 202;
};

let env: Awaited<ReturnType<typeof startMmsToCpmRig>>;
test.before(async () => {
  // Every report gets its .RES, as from an MMSC; M-noack's reports never do (resend test).
  env = await startMmsToCpmRig({
    answer: (req) => answer(req.uri),
    unansweredReports: (m) => m.messageId === 'M-noack',
  });
});

test.after.always(async () => {
  await env?.stop();
});

const resFor = (transactionId: string) =>
  waitFor(`MM4_forward.RES for ${transactionId}`, () =>
    env.mmsc.received.find((r) => r.type === 'MM4_forward.RES' && r.transactionId === transactionId),
  );
/** The default CPM URI form: sip:+E164@<sip.domain>;user=phone, as real clients accept it. */
const cpmUri = (number: string) => `sip:+${number}@ims.iwf.example.net;user=phone`;
const messagesTo = (number: string) =>
  env.peer.seen.filter((s) => s.req.method === 'MESSAGE' && s.req.uri === cpmUri(number));

test('a text MMS reaches the CPM user as a CPIM MESSAGE and the MMSC gets an Ok .RES', async (t) => {
  const sent = await sendMm4(
    env.iwf.mm4.port,
    forwardReq({ messageId: 'M-happy', text: 'Lunch at 12:30? — Älice' }),
    envelopeTo('12025550199'),
  );
  t.true(sent.ok, JSON.stringify(sent));

  const res = await resFor('T-M-happy');
  t.is(res.requestStatus, 'Ok');
  t.is(res.messageId, 'M-happy');
  t.deepEqual(res.envelope.to, [ORIGIN]);
  t.is(res.headers['x-mms-transaction-id'], '"T-M-happy"', "ids echoed with the peer's quoting");

  // Other tests of this file write to the same number at the same time: pick this test's MESSAGE.
  const msg = messagesTo('12025550199').find((s) => s.req.body.toString('utf8').includes('Älice'));
  if (!msg) return t.fail('no MESSAGE with this text reached the CPM side');
  const h = (n: string) => getHeader(msg.req.headers, n);
  t.is(h('P-Asserted-Identity'), `<${cpmUri('12025550101')}>, <tel:+12025550101>`, 'both forms, RFC 3325 9.1');
  t.is(h('From')?.replace(/;tag=.*$/, ''), `<${cpmUri('12025550101')}>`, 'the SIP From is the CPIM From');
  t.is(h('P-Asserted-Service'), 'urn:urn-7:3gpp-service.ims.icsi.oma.cpm.msg');
  t.regex(h('Accept-Contact') ?? '', /icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.msg"/);
  t.regex(h('Conversation-ID') ?? '', /^[0-9a-f-]{36}$/);
  t.regex(h('Contribution-ID') ?? '', /^[0-9a-f-]{36}$/);
  t.regex(h('Content-Type') ?? '', /^message\/cpim/);
  const cpim = parseCpim(msg.req.body);
  if (!cpim.ok) return t.fail(cpim.error);
  t.is(cpimHeader(cpim.message, 'From'), `<${cpmUri('12025550101')}>`);
  t.is(cpimHeader(cpim.message, 'To'), `<${cpmUri('12025550199')}>`);
  t.is(cpimHeader(cpim.message, 'Subject'), 'Lunch?');
  t.is(cpimHeader(cpim.message, 'DateTime'), '2025-03-04T10:15:02.000Z');
  t.regex(cpimHeader(cpim.message, 'Message-ID', IMDN_NS) ?? '', /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{12}$/);
  t.is(cpimHeader(cpim.message, 'Disposition-Notification', IMDN_NS), 'positive-delivery, negative-delivery');
  t.is(cpim.message.content.body.toString('utf8'), 'Lunch at 12:30? — Älice');

  // The CPM recipient's IMDN comes back through the core to the IWF and becomes the MMS delivery report.
  const imdnId = cpimHeader(cpim.message, 'Message-ID', IMDN_NS)!;
  const answer = await imdnBack({
    number: '12025550199',
    imdnId,
    kind: 'delivery',
    status: 'delivered',
    callId: 'imdn-back-1',
  });
  t.is(answer.status, 202);
  const dr = await waitFor('delivery report', () =>
    env.mmsc.received.find((r) => r.type === 'MM4_delivery_report.REQ' && r.messageId === 'M-happy'),
  );
  t.like(dr, {
    mmStatus: 'Retrieved',
    from: '+12025550199/TYPE=PLMN@mms.iwf.example.net',
    to: ['+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs'],
  });
  t.is(dr.headers['x-mms-ack-request'], 'Yes');

  const handle = env.iwf.client.workflow.getHandle(mmsToCpmWorkflowId(ORIGIN, 'M-happy'));
  await handle.result();
  // A .RES repeated after the delivery ended (the MMSC retried its answer): accepted, nothing to do.
  const lateAnswer = await sendMm4(env.iwf.mm4.port, mmscRes(dr), {
    from: ORIGIN,
    to: ['mm4-system@mms.iwf.example.net'],
  });
  t.true(lateAnswer.ok && /finished delivery/.test(lateAnswer.response), JSON.stringify(lateAnswer));
  const audit = await handle.query(auditQuery);
  t.is(audit.status, 'done');
  // State changes in order; the IMDN shows either as the cause of one or, when it overtook our
  // .RES (still in `acking`), as an in-place step of its own.
  t.deepEqual(
    audit.trail.filter((e) => e.from !== e.to).map((e) => e.to),
    [
      'converting',
      'checkingRoutes',
      'storing',
      'routing',
      'routed',
      'concluding',
      'acking',
      'afterAck',
      'awaitingImdn',
      'sendingReports',
      'awaitingImdn',
      'done',
    ],
  );
  t.true(audit.trail.some((e) => e.event === 'sip.imdn'));
  t.true(audit.trail.every((e) => !Number.isNaN(Date.parse(e.at))));
  const desc = await handle.describe();
  t.deepEqual(desc.typedSearchAttributes.get({ name: 'IwfDirection', type: 'KEYWORD' } as never), 'mms-to-cpm');
  t.deepEqual(desc.searchAttributes.IwfState, ['done']);
  t.deepEqual(desc.searchAttributes.IwfOutcome, ['delivered']);

  // A text MM needs no extraction, its steps are local activities (markers), and only the audit
  // write is an activity task; at most one search-attribute upsert per workflow task.
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  t.deepEqual(
    events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []),
    ['writeAuditRecord'],
  );
  const localSteps = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
  t.true(localSteps.length >= 3, `convert, route, .RES and the report as local activities (${localSteps.length})`);
  // Each step reads as what it did in the UI's event history (userMetadata.summary).
  const summaries = events.flatMap((e) => {
    const data = e.userMetadata?.summary?.data;
    return data ? [JSON.parse(Buffer.from(data).toString()) as string] : [];
  });
  t.true(summaries.includes('audit record: delivered'), JSON.stringify(summaries));
  t.true(
    summaries.some((x) => /^SIP MESSAGE to recipient 1 of 1, attempt 1$/.test(x)),
    JSON.stringify(summaries),
  );
  const tasks = events.filter((e) => e.workflowTaskCompletedEventAttributes).length;
  const upserts = events.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes).length;
  t.true(upserts <= tasks, `${upserts} upserts in ${tasks} workflow tasks`);

  // The recorded history replays against the current code: the machine is deterministic.
  await t.notThrowsAsync(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, handle.workflowId),
  );
});

test('a retransmitted MM4_forward.REQ is acknowledged again but never sent twice', async (t) => {
  // No delivery report asked: the delivery ends with its .RES, so its end bounds what it sends.
  const raw = forwardReq({ messageId: 'M-dup', deliveryReport: false });
  const first = await sendMm4(env.iwf.mm4.port, raw, envelopeTo('12025550198'));
  const second = await sendMm4(env.iwf.mm4.port, raw, envelopeTo('12025550198'));
  t.true(first.ok && second.ok);
  await resFor('T-M-dup');
  const third = await sendMm4(env.iwf.mm4.port, raw, envelopeTo('12025550198'));
  t.true(third.ok, 'a retransmission after completion is acknowledged too');
  await env.iwf.client.workflow.getHandle(mmsToCpmWorkflowId(ORIGIN, 'M-dup')).result();
  t.is(messagesTo('12025550198').length, 1);
  t.is(env.mmsc.received.filter((r) => r.transactionId === 'T-M-dup').length, 1);
});

test('a permanent SIP refusal becomes the mapped MM4 error status', async (t) => {
  await sendMm4(env.iwf.mm4.port, forwardReq({ messageId: 'M-404', to: to('12025550404') }), envelopeTo('12025550404'));
  const res = await resFor('T-M-404');
  t.is(res.requestStatus, 'Error-sending-address-unresolved');
  t.regex(res.statusText ?? '', /SIP 404/);
  t.is(messagesTo('12025550404').length, 1);
});

test('a transient SIP refusal is retried durably and then delivered', async (t) => {
  await sendMm4(env.iwf.mm4.port, forwardReq({ messageId: 'M-480', to: to('12025550480') }), envelopeTo('12025550480'));
  const res = await resFor('T-M-480');
  t.is(res.requestStatus, 'Ok');
  // The MMS asked for a delivery report: the .RES came at once (store-and-forward), the retry follows.
  const msgs = await waitFor('second attempt', () =>
    messagesTo('12025550480').length >= 2 ? messagesTo('12025550480') : undefined,
  );
  t.is(msgs.length, 2);
  t.is(msgs[0].callId, msgs[1].callId, 'a retry continues the same Call-ID');
  t.deepEqual(
    msgs.map((m) => m.cseq),
    ['1 MESSAGE', '2 MESSAGE'],
  );
});

test('transient refusals that never end are answered Error-network-problem after the attempts', async (t) => {
  await sendMm4(
    env.iwf.mm4.port,
    forwardReq({ messageId: 'M-503', to: to('12025550503'), deliveryReport: false }),
    envelopeTo('12025550503'),
  );
  const res = await resFor('T-M-503');
  t.is(res.requestStatus, 'Error-network-problem');
  t.is(messagesTo('12025550503').length, 3);
});

test('store-and-forward: with a delivery report asked, an offline user means .RES Ok now and Expired later', async (t) => {
  const rcpt = '+12025550513/TYPE=PLMN@mms.iwf.example.net';
  await sendMm4(env.iwf.mm4.port, forwardReq({ messageId: 'M-saf', to: [rcpt] }), {
    from: 'x@mms.mnc001.mcc001.gprs',
    to: [rcpt],
  });
  const res = await resFor('T-M-saf');
  t.is(res.requestStatus, 'Ok');
  t.regex(res.statusText ?? '', /store-and-forward/);
  const dr = await waitFor('Expired report', () =>
    env.mmsc.received.find((r) => r.type === 'MM4_delivery_report.REQ' && r.messageId === 'M-saf'),
  );
  t.like(dr, { mmStatus: 'Expired' });
  t.is(env.mmsc.received.filter((r) => r.type === 'MM4_forward.RES' && r.messageId === 'M-saf').length, 1);
});

test('a recipient who is not a CPM user gets an error .RES and causes no SIP traffic', async (t) => {
  await sendMm4(
    env.iwf.mm4.port,
    forwardReq({ messageId: 'M-nocpm', to: ['+4915112345678/TYPE=PLMN@mms.iwf.example.net'] }),
    {
      from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
      to: ['+4915112345678/TYPE=PLMN@mms.iwf.example.net'],
    },
  );
  const res = await resFor('T-M-nocpm');
  t.is(res.requestStatus, 'Error-sending-address-unresolved');
  await env.iwf.client.workflow.getHandle(mmsToCpmWorkflowId(ORIGIN, 'M-nocpm')).result();
  t.is(env.peer.seen.filter((s) => s.req.uri.includes('4915112345678')).length, 0);
});

/** The imdn.Message-ID of the (first) CPM MESSAGE a number got. */
function imdnIdOf(number: string): string {
  const c = parseCpim(messagesTo(number)[0].req.body);
  if (!c.ok) throw new Error(c.error);
  return cpimHeader(c.message, 'Message-ID', IMDN_NS)!;
}

/** A CPM recipient's IMDN about a MESSAGE it got, sent through the core to the IWF (RFC 5438 7.2). */
async function imdnBack(o: {
  number: string;
  imdnId: string;
  kind: 'delivery' | 'display';
  status: string;
  callId: string;
  transport?: 'udp' | 'tcp';
  pai?: boolean;
}) {
  const uri = cpmUri(o.number);
  const body = serializeCpim(
    buildImdnCpim({
      from: uri,
      to: cpmUri('12025550101'),
      dateTime: new Date(),
      imdnMessageId: o.callId,
      notification: {
        messageId: o.imdnId,
        datetime: '2025-03-04T10:15:02.000Z',
        recipientUri: uri,
        kind: o.kind,
        status: o.status,
      } as ImdnNotification,
    }),
  );
  const headers = [
    { name: 'From', value: `<${uri}>;tag=x` },
    { name: 'To', value: `<${cpmUri('12025550101')}>` },
    { name: 'Call-ID', value: o.callId },
    { name: 'CSeq', value: '1 MESSAGE' },
    ...(o.pai === false ? [] : [{ name: 'P-Asserted-Identity', value: `<${uri}>` }]),
    { name: 'Content-Type', value: 'message/cpim' },
  ];
  const ua = await createSipEndpoint({ host: '127.0.0.1', port: 0 });
  try {
    return await ua.sendRequest(
      { method: 'MESSAGE', uri: cpmUri('12025550101'), headers, body },
      { host: '127.0.0.1', port: env.iwf.sip.port, transport: o.transport ?? 'udp' },
    );
  } finally {
    await ua.close();
  }
}

test('IMDN failed, forbidden and error become Rejected, Rejected and Indeterminate delivery reports', async (t) => {
  const numbers = ['12025550161', '12025550162', '12025550163'];
  const rcpt = numbers.map((n) => `+${n}/TYPE=PLMN@mms.iwf.example.net`);
  await sendMm4(env.iwf.mm4.port, forwardReq({ messageId: 'M-neg', to: rcpt }), {
    from: 'x@mms.mnc001.mcc001.gprs',
    to: rcpt,
  });
  t.is((await resFor('T-M-neg')).requestStatus, 'Ok');
  const answers = await Promise.all(
    (['failed', 'forbidden', 'error'] as const).map((status, i) =>
      imdnBack({
        number: numbers[i],
        imdnId: imdnIdOf(numbers[i]),
        kind: 'delivery',
        status,
        callId: `imdn-${numbers[i]}-delivery`,
      }),
    ),
  );
  t.deepEqual(
    answers.map((a) => a.status),
    [202, 202, 202],
  );
  await env.iwf.client.workflow.getHandle(mmsToCpmWorkflowId(ORIGIN, 'M-neg')).result();
  const reports = env.mmsc.received.filter((r) => r.type === 'MM4_delivery_report.REQ' && r.messageId === 'M-neg');
  const byRecipient = Object.fromEntries(reports.map((r) => [r.from.split('/')[0], r.mmStatus]));
  t.deepEqual(byRecipient, { '+12025550161': 'Rejected', '+12025550162': 'Rejected', '+12025550163': 'Indeterminate' });
});

test('several recipients get one MESSAGE each and the MMSC one .RES', async (t) => {
  const rcpt = ['+12025550101', '+12025550102'].map((n) => `${n}/TYPE=PLMN@mms.iwf.example.net`);
  // No delivery report asked: the delivery ends with its .RES, so its end bounds what it sends.
  await sendMm4(env.iwf.mm4.port, forwardReq({ messageId: 'M-multi', to: rcpt, deliveryReport: false }), {
    from: 'x@mms.mnc001.mcc001.gprs',
    to: rcpt,
  });
  const res = await resFor('T-M-multi');
  t.is(res.requestStatus, 'Ok');
  await env.iwf.client.workflow.getHandle(mmsToCpmWorkflowId(ORIGIN, 'M-multi')).result();
  t.is(messagesTo('12025550101').length, 1);
  t.is(messagesTo('12025550102').length, 1);
  t.is(env.mmsc.received.filter((r) => r.transactionId === 'T-M-multi').length, 1);
});

test('MM4 from a source no peer allows is refused with a 5xx', async (t) => {
  const r = await sendMm4(
    env.iwf.mm4.port,
    forwardReq({ messageId: 'M-stranger' }),
    envelopeTo('12025550199'),
    '127.0.0.5',
  );
  t.false(r.ok);
  if (!r.ok) {
    t.is(r.code, 554);
    t.regex(r.response, /not an allowed MM4 peer/);
  }
});

test('a PDU that is not MM4 at all is refused with a 5xx naming the MM4 status', async (t) => {
  const raw = 'From: a@b\r\nTo: c@d\r\nSubject: hi\r\n\r\nplain mail\r\n';
  const r = await sendMm4(env.iwf.mm4.port, raw, { from: 'a@b', to: ['c@d'] });
  t.false(r.ok);
  if (!r.ok) {
    t.is(r.code, 554);
    t.regex(r.response, /MM4 Error-message-format-corrupt: .*X-Mms-Message-Type/i);
  }
});

test('a malformed MM4_forward.REQ that asks for an ack gets an error .RES', async (t) => {
  // No X-Mms-Message-ID: mandatory in MM4_forward.REQ (23.140 8.4.1).
  const raw = forwardReq({ messageId: 'unused', transactionId: 'T-malformed' }).replace(/X-Mms-Message-ID: .*\r\n/, '');
  const r = await sendMm4(env.iwf.mm4.port, raw, envelopeTo('12025550199'));
  t.true(r.ok, JSON.stringify(r));
  const res = await resFor('T-malformed');
  t.is(res.requestStatus, 'Error-message-format-corrupt');
  t.regex(res.statusText ?? '', /X-Mms-Message-ID/i);
});

test('a CPM user who never confirms yields an Expired delivery report at the expiry', async (t) => {
  await sendMm4(
    env.iwf.mm4.port,
    forwardReq({ messageId: 'M-expiry', to: to('12025550177'), extra: ['X-Mms-Expiry: 2'] }),
    envelopeTo('12025550177'),
  );
  t.is((await resFor('T-M-expiry')).requestStatus, 'Ok');
  const dr = await waitFor(
    'Expired report',
    () => env.mmsc.received.find((r) => r.type === 'MM4_delivery_report.REQ' && r.messageId === 'M-expiry'),
    30_000,
  );
  t.like(dr, { mmStatus: 'Expired' });
});

test('a report the originator MMSC does not answer is resent with the same ids, then given up', async (t) => {
  await sendMm4(
    env.iwf.mm4.port,
    forwardReq({ messageId: 'M-noack', to: to('12025550178'), extra: ['X-Mms-Expiry: 1'] }),
    envelopeTo('12025550178'),
  );
  const handle = env.iwf.client.workflow.getHandle(mmsToCpmWorkflowId(ORIGIN, 'M-noack'));
  await handle.result(); // bounded: expiry 1 s, then delivery.mm4Ack 3 s x 2 sends
  const reports = env.mmsc.received.filter((r) => r.type === 'MM4_delivery_report.REQ' && r.messageId === 'M-noack');
  t.is(reports.length, 2, 'sent, then resent once (maxAttempts 2)');
  t.like(reports[0], { mmStatus: 'Expired' });
  t.is(reports[1].transactionId, reports[0].transactionId, 'a resend is the same report');
  t.truthy(reports[0].headers['message-id']);
  t.is(reports[1].headers['message-id'], reports[0].headers['message-id']);
  const audit = await handle.query(auditQuery);
  t.true(audit.trail.some((e) => e.to === 'resendingReports'));
  t.regex(audit.trail.map((e) => e.detail ?? '').join('\n'), /no \.RES for report\(s\) 1 after 2 send\(s\); given up/);
});

test('a displayed IMDN becomes the delivery report and the read-reply report', async (t) => {
  await sendMm4(
    env.iwf.mm4.port,
    forwardReq({ messageId: 'M-read', to: to('12025550166'), readReply: true }),
    envelopeTo('12025550166'),
  );
  await resFor('T-M-read');
  const [msg] = messagesTo('12025550166');
  const c = parseCpim(msg.req.body);
  if (!c.ok) return t.fail(c.error);
  t.is(cpimHeader(c.message, 'Disposition-Notification', IMDN_NS), 'positive-delivery, negative-delivery, display');
  const displayed = {
    number: '12025550166',
    imdnId: cpimHeader(c.message, 'Message-ID', IMDN_NS)!,
    kind: 'display',
    status: 'displayed',
    pai: false,
  } as const;
  t.is((await imdnBack({ ...displayed, callId: 'imdn-back-2', transport: 'tcp' })).status, 202);
  const types = await waitFor('both reports', () => {
    const got = env.mmsc.received.filter((r) => r.messageId === 'M-read' && r.type.endsWith('report.REQ'));
    return got.length >= 2 ? got : undefined;
  });
  t.like(
    types.find((r) => r.type === 'MM4_delivery_report.REQ'),
    { mmStatus: 'Retrieved' },
  );
  t.like(
    types.find((r) => r.type === 'MM4_read_reply_report.REQ'),
    { readStatus: 'Read' },
  );
  await env.iwf.client.workflow.getHandle(mmsToCpmWorkflowId(ORIGIN, 'M-read')).result();

  // The client sends its IMDN again after the delivery ended: taken (202), not reported twice.
  const again = await imdnBack({ ...displayed, callId: 'imdn-back-3' });
  t.is(again.status, 202);
  t.regex(again.reason, /already ended/);
  t.is(env.mmsc.received.filter((r) => r.messageId === 'M-read' && r.type.endsWith('report.REQ')).length, 2);
});

test('a processing stored IMDN becomes an interim Deferred delivery report, then delivered becomes Retrieved', async (t) => {
  const number = '12025550182';
  await sendMm4(env.iwf.mm4.port, forwardReq({ messageId: 'M-stored', to: to(number) }), envelopeTo(number));
  t.is((await resFor('T-M-stored')).requestStatus, 'Ok');
  const imdnId = imdnIdOf(number);
  const reportsFor = () =>
    env.mmsc.received.filter((r) => r.type === 'MM4_delivery_report.REQ' && r.messageId === 'M-stored');
  // imdnBack types the kinds the earlier tests send; a processing notification has the same shape.
  const stored = { number, imdnId, kind: 'processing', status: 'stored' } as unknown as Parameters<typeof imdnBack>[0];
  t.is((await imdnBack({ ...stored, callId: 'imdn-stored-1' })).status, 202);
  const [deferred] = await waitFor('Deferred report', () => (reportsFor().length ? reportsFor() : undefined));
  t.like(deferred, { mmStatus: 'Deferred', from: `+${number}/TYPE=PLMN@mms.iwf.example.net` });
  // The same notification again: taken, never a second Deferred report.
  t.is((await imdnBack({ ...stored, callId: 'imdn-stored-2' })).status, 202);
  t.is(
    (await imdnBack({ number, imdnId, kind: 'delivery', status: 'delivered', callId: 'imdn-stored-3' })).status,
    202,
  );
  const handle = env.iwf.client.workflow.getHandle(mmsToCpmWorkflowId(ORIGIN, 'M-stored'));
  await handle.result();
  t.deepEqual(
    reportsFor().map((r) => r.mmStatus),
    ['Deferred', 'Retrieved'],
  );
  t.not(reportsFor()[0].transactionId, reportsFor()[1].transactionId, 'two reports, each with its own id');
  await t.notThrowsAsync(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, await handle.fetchHistory(), handle.workflowId),
  );
});

test('a dialect habit of the peer is tolerated and named in the audit trail (an RFC 3339 X-Mms-Expiry)', async (t) => {
  const expiry = new Date(Date.now() + 3_600_000).toISOString();
  const raw = forwardReq({
    messageId: 'M-rfc3339',
    deliveryReport: false,
    extra: [`X-Mms-Expiry: ${expiry}`],
  });
  t.true((await sendMm4(env.iwf.mm4.port, raw, envelopeTo('12025550199'))).ok);
  const handle = env.iwf.client.workflow.getHandle(mmsToCpmWorkflowId(ORIGIN, 'M-rfc3339'));
  await handle.result();
  const audit = await handle.query(auditQuery);
  const details = audit.trail.map((e) => e.detail ?? '').join('\n');
  t.regex(details, /intake: tolerated: X-Mms-Expiry .*RFC 3339/);
});

test('an X-Mms-Message-ID of 2,000 characters is delivered, not answered "try again" forever', async (t) => {
  const longId = `M-long-${'x'.repeat(2000)}`;
  const sent = await sendMm4(
    env.iwf.mm4.port,
    forwardReq({ messageId: longId, transactionId: 'T-long', deliveryReport: false }),
    envelopeTo('12025550199'),
  );
  t.true(sent.ok, JSON.stringify(sent));
  const res = await resFor('T-long');
  t.is(res.requestStatus, 'Ok');
  t.is(res.messageId, longId, 'the original id is echoed in full');
});
