/**
 * Records the histories a release writes, as replay fixtures for the releases after it:
 *
 *   node --import tsx test/replay/record-histories.ts <release>   (e.g. 0.1.0)
 *
 * writes test/fixtures/histories/<release>/<case>.json. Run it on the release being recorded, before
 * workflow code changes; `replay.test.ts` then replays every recorded history against the current
 * code, so a change that would fail deliveries in flight under the old code fails `npm test`.
 * Cases: a plain delivery each way, an MMS -> CPM delivery waiting in `retryWait`, one waiting in
 * `awaitingImdn`, a CPM -> MMS one waiting for its delivery report, and each way with both reports.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { createSipEndpoint } from '../../clients/sip/endpoint.js';
import { buildImdnCpim, cpimHeader, IMDN_NS, parseCpim, serializeCpim } from '../../protocols/cpim/cpim.js';
import type { ImdnNotification } from '../../protocols/cpim/imdn.js';
import type { SipRequest } from '../../protocols/sip/message.js';
import { mmsToCpmWorkflowId } from '../../workflows/messages.js';
import { startTestIwf, startTestTemporal } from '../helpers/iwf.js';
import {
  answerAddress,
  forwardReq,
  MMSC_SYSTEM,
  mmscReport,
  mmscRes,
  sendMm4,
  startFakeMmsc,
  type ReceivedMm4,
} from '../helpers/mmsc.js';
import { waitFor } from '../helpers/ports.js';

const release = process.argv[2];
if (!release || !/^\d+\.\d+\.\d+$/.test(release)) {
  console.error('usage: record-histories.ts <release, e.g. 0.1.0>');
  process.exit(2);
}
const outDir = join(import.meta.dirname, '..', 'fixtures', 'histories', release);
mkdirSync(outDir, { recursive: true });

const ORIGIN = 'system-user@mms.mnc001.mcc001.gprs';
const temporal = await startTestTemporal();
let iwfMm4Port = 0;
const mmsc = await startFakeMmsc(0, (m: ReceivedMm4) => {
  if (m.type !== 'MM4_forward.REQ') return;
  const res = mmscRes(m, 'Ok', 'MMSC says Ok');
  setTimeout(() => void sendMm4(iwfMm4Port, res, { from: MMSC_SYSTEM, to: [answerAddress(m)] }), 20);
  // Both-reports case: the recipient's MMSC reports delivery, then the read (23.140 8.4.3, 8.4.4).
  if (m.envelope.to[0].startsWith('+4915177777777')) {
    const reports = [
      mmscReport(m, { type: 'MM4_delivery_report.REQ', mmStatus: 'Retrieved' }, 'REC-dr-1'),
      mmscReport(m, { type: 'MM4_read_reply_report.REQ', readStatus: 'Read' }, 'REC-rr-1'),
    ];
    reports.forEach((r, i) =>
      setTimeout(() => void sendMm4(iwfMm4Port, r, { from: MMSC_SYSTEM, to: [answerAddress(m)] }), 300 + 300 * i),
    );
  }
});
// The SIP core: 480 for the retry case, 202 otherwise; IMDNs to the IWF are answered 202.
const core = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 100, t2: 400 } });
const seen: SipRequest[] = [];
core.onRequest((req) => {
  seen.push(req);
  return { status: req.uri.includes('+12025550480') ? 480 : 202 };
});
const iwf = await startTestIwf({
  temporalAddress: temporal.address,
  mmscPort: mmsc.port,
  outboundProxyPort: core.port,
  retry: { maxAttempts: 5, initialInterval: '1h' },
});
iwfMm4Port = iwf.mm4.port;
mmsc.answerReports(iwf.mm4.port);

const stateOf = async (h: WorkflowHandle) => (await h.describe()).searchAttributes.IwfState?.[0];
async function save(name: string, h: WorkflowHandle, waitForState?: string) {
  if (waitForState)
    await waitFor(`${name} in ${waitForState}`, async () => ((await stateOf(h)) === waitForState ? true : undefined));
  else await h.result();
  const history = await h.fetchHistory();
  // Proto3 JSON (as `temporal workflow show -o json` writes it), read back with historyFromJSON.
  const json: unknown = JSON.parse(historyToJSON(history));
  writeFileSync(
    join(outDir, `${name}.json`),
    JSON.stringify({ workflowId: h.workflowId, history: json }, null, 1) + '\n',
  );
  console.log(`${name}: ${history.events?.length ?? 0} events, ${waitForState ?? 'completed'}`);
}

async function mmsToCpm(messageId: string, number: string, o: { deliveryReport?: boolean; readReply?: boolean } = {}) {
  const sent = await sendMm4(
    iwf.mm4.port,
    forwardReq({ messageId, to: [`+${number}/TYPE=PLMN@mms.iwf.example.net`], ...o }),
    {
      from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
      to: [`+${number}/TYPE=PLMN@mms.iwf.example.net`],
    },
  );
  if (!sent.ok) throw new Error(`MM4 send failed: ${JSON.stringify(sent)}`);
  return iwf.client.workflow.getHandle(mmsToCpmWorkflowId(ORIGIN, messageId));
}

const cpmUri = (number: string) => `sip:+${number}@ims.iwf.example.net;user=phone`;
/** The IMDN the CPM recipient's client sends back for the MESSAGE it got (RFC 5438 7.2). */
async function imdnBack(number: string, kind: 'delivery' | 'display', status: string) {
  const msg = seen.find((r) => r.method === 'MESSAGE' && r.uri === cpmUri(number));
  if (!msg) throw new Error(`no MESSAGE to +${number}`);
  const c = parseCpim(msg.body);
  if (!c.ok) throw new Error(c.error);
  const uri = cpmUri(number);
  const body = serializeCpim(
    buildImdnCpim({
      from: uri,
      to: cpmUri('12025550101'),
      dateTime: new Date('2025-03-04T10:16:00Z'),
      imdnMessageId: `imdn-${kind}-${number}`,
      notification: {
        messageId: cpimHeader(c.message, 'Message-ID', IMDN_NS)!,
        datetime: '2025-03-04T10:15:02.000Z',
        recipientUri: uri,
        kind,
        status,
      } as ImdnNotification,
    }),
  );
  const res = await core.sendRequest(
    {
      method: 'MESSAGE',
      uri: cpmUri('12025550101'),
      headers: [
        { name: 'From', value: `<${uri}>;tag=r${kind}` },
        { name: 'To', value: `<${cpmUri('12025550101')}>` },
        { name: 'Call-ID', value: `imdn-${kind}-${number}` },
        { name: 'CSeq', value: '1 MESSAGE' },
        { name: 'P-Asserted-Identity', value: `<${uri}>` },
        { name: 'Content-Type', value: 'message/cpim' },
      ],
      body,
    },
    { host: '127.0.0.1', port: iwf.sip.port, transport: 'udp' },
  );
  if (res.status !== 202 && res.status !== 200) throw new Error(`IMDN answered ${res.status}`);
}

let calls = 0;
async function cpmToMms(id: string, number: string, dispo?: string) {
  const uri = `tel:${number}`;
  const cpim = [
    'From: <sip:anonymous@anonymous.invalid>',
    `To: <${uri}>`,
    'DateTime: 2025-03-04T10:15:02.000Z',
    'NS: imdn <urn:ietf:params:imdn>',
    `imdn.Message-ID: ${id}`,
    ...(dispo ? [`imdn.Disposition-Notification: ${dispo}`] : []),
    '',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hallo aus RCS',
  ].join('\r\n');
  const res = await core.sendRequest(
    {
      method: 'MESSAGE',
      uri,
      headers: [
        { name: 'From', value: '<tel:+12025550101>;tag=t1' },
        { name: 'To', value: `<${uri}>` },
        { name: 'Call-ID', value: `rec-${++calls}-${id}` },
        { name: 'CSeq', value: '1 MESSAGE' },
        { name: 'P-Asserted-Identity', value: '<sip:+12025550101@ims.example.net;user=phone>, <tel:+12025550101>' },
        { name: 'Content-Type', value: 'message/cpim' },
      ],
      body: Buffer.from(cpim),
    },
    { host: '127.0.0.1', port: iwf.sip.port, transport: 'udp' },
  );
  if (res.status !== 202) throw new Error(`CPM MESSAGE answered ${res.status}`);
  const [wf] = await waitFor(`workflow for ${id}`, async () => {
    const found = [];
    for await (const w of iwf.client.workflow.list({ query: `WorkflowType = "cpmToMms"` }))
      if (w.workflowId.endsWith(`/${id}`)) found.push(w);
    return found.length ? found : undefined;
  });
  return iwf.client.workflow.getHandle(wf.workflowId);
}

try {
  await save(
    'mms-to-cpm-plain',
    await mmsToCpm('REC-plain', '12025550199', { deliveryReport: false, readReply: false }),
  );
  await save(
    'mms-to-cpm-retry-wait',
    await mmsToCpm('REC-retry', '12025550480', { deliveryReport: false }),
    'retryWait',
  );
  await save(
    'mms-to-cpm-awaiting-imdn',
    await mmsToCpm('REC-await', '12025550177', { deliveryReport: true }),
    'awaitingImdn',
  );
  const both = await mmsToCpm('REC-both', '12025550166', { deliveryReport: true, readReply: true });
  await waitFor('MESSAGE to +12025550166', () =>
    seen.find((r) => r.method === 'MESSAGE' && r.uri === cpmUri('12025550166')),
  );
  await imdnBack('12025550166', 'delivery', 'delivered');
  await imdnBack('12025550166', 'display', 'displayed');
  await save('mms-to-cpm-both-reports', both);
  await save('cpm-to-mms-plain', await cpmToMms('rec-plain', '+4915112345678'));
  await save(
    'cpm-to-mms-awaiting-report',
    await cpmToMms('rec-await', '+4915166666666', 'positive-delivery'),
    'awaitingReport',
  );
  await save('cpm-to-mms-both-reports', await cpmToMms('rec-both', '+4915177777777', 'positive-delivery, display'));
} finally {
  await iwf.stop();
  await core.close();
  await mmsc.close();
  await temporal.stop();
}
