/**
 * A stand-in MMSC for trying the IWF by hand (the tests' SMTP listener plus an MMSC's answers):
 *
 *   npm run mmsc -- [--listen 127.0.0.1:2526] [--iwf 127.0.0.1:2525] [--no-res] [--reports]
 *
 * Prints every MM4 PDU the IWF sends. Answers each MM4_forward.REQ with MM4_forward.RES Ok
 * (not with --no-res, to watch resends and timeouts) and each of the IWF's reports with its .RES.
 * With --reports it also plays the recipient's MMSC: a Retrieved MM4_delivery_report.REQ after
 * 1 s when the MM asked for one, a Read MM4_read_reply_report.REQ after 2.5 s when asked.
 * Every answer is its own SMTP transaction to the IWF's MM4 port (23.140 8.4).
 * `--listen HOST:PORT` is where the IWF's mm4.peers[].smtp points (`--port N` is short for
 * 127.0.0.1:N). SIGINT/SIGTERM stop it; a port in use is one line on stderr and exit 1.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { parseHostPort } from '../worker/config-schema.js';
import { answerAddress, mmscReport, mmscRes, sendMm4, startFakeMmsc, type ReceivedMm4 } from '../test/helpers/mmsc.js';

const fail = (line: string, code = 2): never => {
  console.error(`mmsc: ${line}`);
  process.exit(code);
};
let parsed: ReturnType<typeof parseOptions>;
function parseOptions() {
  return parseArgs({
    options: {
      listen: { type: 'string' },
      port: { type: 'string' },
      iwf: { type: 'string', default: '127.0.0.1:2525' },
      'no-res': { type: 'boolean', default: false },
      reports: { type: 'boolean', default: false },
    },
  });
}
try {
  parsed = parseOptions();
} catch (e) {
  fail((e as Error).message);
}
const o = parsed!.values;
const listen = parseHostPort(o.listen ?? `127.0.0.1:${o.port ?? '2526'}`);
if (!listen) fail(`--listen: '${o.listen ?? o.port}' is not HOST:PORT like 127.0.0.1:2526`);
const iwfAddr = parseHostPort(o.iwf);
if (!iwfAddr) fail(`--iwf: '${o.iwf}' is not HOST:PORT like 127.0.0.1:2525`);
const SYSTEM = 'system-user@mms.mnc001.mcc001.gprs';
const iwfPort = iwfAddr!.port;

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

// The test MMSC listens on loopback only; the address asked for is a relay to it, so the stand-in
// can sit wherever the IWF's mm4.peers[].smtp points (and a port in use is found here, at bind).
const mmsc = await startFakeMmsc(0, (m) => {
  console.log(
    `<-- ${m.type} for ${m.envelope.to.join(', ')} at ${new Date().toISOString()}\n${m.raw.toString('utf8')}`,
  );
  if (m.type === 'MM4_forward.REQ') answerForward(m);
});
mmsc.answerReports(iwfPort); // the IWF's reports (MMS -> CPM) get their .RES
const open = new Set<Socket>();
const relay: Server = createServer((inbound) => {
  const inner = connect(mmsc.port, '127.0.0.1');
  for (const s of [inbound, inner]) {
    open.add(s);
    s.once('close', () => open.delete(s));
  }
  inbound.pipe(inner).pipe(inbound);
  inbound.on('error', () => inner.destroy());
  inner.on('error', () => inbound.destroy());
});
const where = `${listen!.host.includes(':') ? `[${listen!.host}]` : listen!.host}:${listen!.port}`;
await new Promise<void>((resolve) => {
  relay.once('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EADDRINUSE')
      fail(`${where} is already in use (another mmsc running?); choose one with --listen HOST:PORT`, 1);
    fail(`cannot listen on ${where}: ${e.code ?? e.message}`, 1);
  });
  relay.listen(listen!.port, listen!.host, resolve);
});
const bound = relay.address() as { port: number };
console.log(
  `stand-in MMSC listening on ${where.replace(/:\d+$/, `:${bound.port}`)}; answers go to the IWF at ${o.iwf}`,
);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  relay.close();
  for (const s of open) s.destroy();
  void mmsc.close().then(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref(); // an SMTP session still open does not hold the exit
};
process.once('SIGINT', stop).once('SIGTERM', stop);
