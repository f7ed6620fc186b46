/**
 * A stand-in MMSC for trying the IWF by hand (the tests' SMTP listener plus an MMSC's answers):
 *
 *   npm run mmsc -- [--port 2526] [--iwf 127.0.0.1:2525] [--no-res] [--reports]
 *
 * Prints every MM4 PDU the IWF sends. Answers each MM4_forward.REQ with MM4_forward.RES Ok
 * (not with --no-res, to watch resends and timeouts) and each of the IWF's reports with its .RES.
 * With --reports it also plays the recipient's MMSC: a Retrieved MM4_delivery_report.REQ after
 * 1 s when the MM asked for one, a Read MM4_read_reply_report.REQ after 2.5 s when asked.
 * Every answer is its own SMTP transaction to the IWF's MM4 port (23.140 8.4).
 */
import { parseArgs } from 'node:util';
import { answerAddress, mmscReport, mmscRes, sendMm4, startFakeMmsc, type ReceivedMm4 } from '../test/helpers/mmsc.js';

const { values: o } = parseArgs({
  options: {
    port: { type: 'string', default: '2526' },
    iwf: { type: 'string', default: '127.0.0.1:2525' },
    'no-res': { type: 'boolean', default: false },
    reports: { type: 'boolean', default: false },
  },
});
const SYSTEM = 'system-user@mms.mnc001.mcc001.gprs';
const iwfPort = Number(o.iwf.split(':')[1]);

async function deliver(raw: Buffer, what: string, to: string) {
  const r = await sendMm4(iwfPort, raw, { from: SYSTEM, to: [to] });
  console.log(`--> ${what}: SMTP ${r.ok ? 'ok' : `failed ${r.code ?? ''}`} ${r.response}`);
}

function answerForward(req: ReceivedMm4) {
  const to = answerAddress(req);
  if (!o['no-res']) {
    setTimeout(
      () => void deliver(mmscRes(req, 'Ok', 'stand-in MMSC'), `MM4_forward.RES Ok for ${req.transactionId}`, to),
      200,
    );
  }
  if (!o.reports) return;
  if (req.headers['x-mms-delivery-report']?.toLowerCase() === 'yes') {
    const dr = mmscReport(req, { type: 'MM4_delivery_report.REQ', mmStatus: 'Retrieved' }, `${req.transactionId}-dr`);
    setTimeout(() => void deliver(dr, `MM4_delivery_report.REQ Retrieved for ${req.messageId}`, to), 1000);
  }
  if (req.headers['x-mms-read-reply']?.toLowerCase() === 'yes') {
    const rr = mmscReport(req, { type: 'MM4_read_reply_report.REQ', readStatus: 'Read' }, `${req.transactionId}-rr`);
    setTimeout(() => void deliver(rr, `MM4_read_reply_report.REQ Read for ${req.messageId}`, to), 2500);
  }
}

const mmsc = await startFakeMmsc(Number(o.port), (m) => {
  console.log(
    `<-- ${m.type} for ${m.envelope.to.join(', ')} at ${new Date().toISOString()}\n${m.raw.toString('utf8')}`,
  );
  if (m.type === 'MM4_forward.REQ') answerForward(m);
});
mmsc.answerReports(iwfPort); // the IWF's reports (MMS -> CPM) get their .RES
console.log(`stand-in MMSC listening on 127.0.0.1:${mmsc.port}; answers go to the IWF at ${o.iwf}`);
