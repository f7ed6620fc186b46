/**
 * R5: access control at every front-end.
 *  - MM4 from a source no peer's `allow` names: refused (554 5.7.1 at the greeting, RFC 5321 §3.1).
 *  - No open relay: RCPT TO a domain that is not ours refused (550/551/554 5.7.1, RFC 5321 §3.6.2
 *    and §7.1), and an MM4_forward.REQ for a foreign MMSE's recipient is not carried anywhere.
 *  - SIP from a source not in `sip.trusted`: 403 (RFC 3261 §21.4.4), over UDP and TCP.
 *  - FT-over-HTTP descriptors naming loopback, private, link-local/metadata or CGNAT addresses (in
 *    every numeric spelling): never fetched (a listener on 127.0.0.1 counts connections).
 *  - Media ids the store never issued: 404, whatever their spelling.
 */
import { createServer } from 'node:http';
import { connect } from 'node:net';
import {
  alive,
  cpmMessage,
  cpmWorkflowId,
  emptyResult,
  mmsWorkflowId,
  MMS_ENVELOPE,
  mmsForward,
  sipOverTcp,
  sipUdpOnce,
  sleep,
  smtpRaw,
  token,
  type GroupResult,
  type Rig,
} from '../harness.js';

const ft = (url: string) =>
  Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><file xmlns="urn:gsma:params:xml:ns:rcs:rcs:fthttp"><file-info type="file">` +
      `<file-size>159</file-size><file-name>photo.jpg</file-name><content-type>image/jpeg</content-type>` +
      `<data url="${url}" until="2099-03-11T10:20:41Z"/></file-info></file>`,
  );

function httpGet(port: number, path: string): Promise<number | 'closed' | 'timeout'> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let buf = '';
    const timer = setTimeout(() => (s.destroy(), resolve('timeout')), 10_000);
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      const m = /^HTTP\/\d\.\d (\d{3})/.exec(buf);
      if (m) {
        clearTimeout(timer);
        s.destroy();
        resolve(Number(m[1]));
      }
    });
    s.on('close', () => (clearTimeout(timer), resolve('closed')));
    s.on('error', () => undefined);
    s.write(`GET ${path} HTTP/1.1\r\nHost: media\r\nConnection: close\r\n\r\n`);
  });
}

export async function r5Access(rig: Rig, o: { short: boolean; log: (s: string) => void }): Promise<GroupResult> {
  const r = emptyResult('R5', 'access control: MM4 sources, relaying, SIP trust, SSRF, media ids');
  r.rssBeforeKb = rig.iwf.rssKb();
  const crashesBefore = rig.iwf.unexpectedExits.length;
  const { mm4, sip, media } = rig.iwf.ports;
  const check = (what: string, ok: boolean, got: string) => {
    r.cases++;
    r.figures[what] = got;
    if (!ok) {
      r.violations++;
      r.failures.push(`${what}: got ${got}`);
    }
  };

  // MM4 from 127.0.0.2 (loopback, but not in operator-a's allow [127.0.0.1]).
  const foreign = await smtpRaw(mm4, Buffer.from(mmsForward(token('rel-r5a-'))), {
    localAddress: '127.0.0.2',
    to: MMS_ENVELOPE.to,
  });
  check(
    'MM4 from a source no peer allows',
    typeof foreign.code === 'number' && foreign.code >= 500 && foreign.stage === 'greeting',
    `${foreign.code} at ${foreign.stage}`,
  );

  // Relaying: recipients outside our MMSE domain. The IWF is no relay either way: it refuses in
  // SMTP (5xx) or takes the MM4_forward.REQ and answers it with an error .RES (23.140 8.4.1,
  // Error-sending-address-unresolved), carrying nothing on; checked below once the .RES is in.
  const relayToks: { tok: string; to: string; refused: boolean; answer: string }[] = [];
  for (const to of ['victim@relay.example.com', `+4915112345678/TYPE=PLMN@mms.other-operator.example`]) {
    const tok = token('rel-r5r-');
    const raw = mmsForward(tok, { to: [to] });
    const a = await smtpRaw(mm4, Buffer.from(raw), { to: [to] });
    const refused =
      typeof a.code === 'number' && a.code >= 500 && (a.stage === 'rcpt' || a.stage === 'mail' || a.stage === 'end');
    relayToks.push({ tok, to, refused, answer: `${a.code} at ${a.stage}${a.reply ? ` (${a.reply})` : ''}` });
  }

  // SIP from an untrusted source (127.0.0.3) over UDP and TCP.
  const untrustedUdp = cpmMessage({
    sipPort: sip,
    imdnId: `imdn-${token('rel-r5s-')}`,
    text: 'untrusted',
    localHost: '127.0.0.3',
    localPort: 5999,
    extraHeaders: [],
  });
  const viaFixed = Buffer.from(
    untrustedUdp.bytes.toString('latin1').replace(/^(Via: [^\r]*);branch=/m, '$1;rport;branch='),
    'latin1',
  );
  const u = await sipUdpOnce(sip, viaFixed, 10_000, '127.0.0.3');
  check('SIP/UDP from an untrusted source', u === 403, String(u));
  const tcpMsg = cpmMessage({
    sipPort: sip,
    imdnId: `imdn-${token('rel-r5t-')}`,
    text: 'untrusted',
    localHost: '127.0.0.3',
    transport: 'TCP',
  });
  const t = await sipOverTcp(sip, tcpMsg.bytes, 10_000, '127.0.0.3');
  check('SIP/TCP from an untrusted source', t === 403, String(t));

  // SSRF: descriptors toward a listener on loopback, in every spelling, and private/metadata addresses.
  let connections = 0;
  const listener = createServer((req, res) => {
    connections++;
    res.writeHead(200, { 'Content-Type': 'image/jpeg' }).end(Buffer.alloc(159, 0xff));
  });
  listener.on('connection', () => connections++);
  await new Promise<void>((res) => listener.listen(0, '127.0.0.1', () => res()));
  const lp = (listener.address() as { port: number }).port;
  const urls = [
    `http://127.0.0.1:${lp}/f`,
    `http://localhost:${lp}/f`,
    `http://127.1:${lp}/f`,
    `http://2130706433:${lp}/f`,
    `http://0x7f000001:${lp}/f`,
    `http://0177.0.0.1:${lp}/f`,
    `http://[::ffff:127.0.0.1]:${lp}/f`,
    `http://[::ffff:7f00:1]:${lp}/f`,
    `http://0.0.0.0:${lp}/f`,
    `http://ftcs.example.net@127.0.0.1:${lp}/f`,
    'http://169.254.169.254/latest/meta-data/',
    'http://[fd00::1]/f',
    'http://10.0.0.1/f',
    'http://192.168.1.1/f',
    'http://172.16.0.1/f',
    'http://100.64.0.1/f',
  ];
  const ids: { url: string; wf: string }[] = [];
  for (const url of urls) {
    const imdnId = `imdn-${token('rel-r5f-')}`;
    const m = cpmMessage({
      sipPort: sip,
      imdnId,
      innerType: 'application/vnd.gsma.rcs-ft-http+xml',
      inner: ft(url),
      localPort: rig.core.port,
    });
    const a = await rig.core.transaction(m.bytes, m.branch, sip, 10_000);
    ids.push({ url, wf: cpmWorkflowId(imdnId) });
    r.figures[`FT ${url} SIP answer`] = String(a);
  }
  // Each accepted one ends (refused fetch: permanent failure) or is still retrying; either way no connection.
  const until = Date.now() + (o.short ? 15_000 : 30_000);
  while (Date.now() < until && !ids.every((i) => rig.auditCount(i.wf) > 0)) await sleep(250);
  const outcomes = new Map(rig.iwf.auditRecords().map((rec) => [rec.workflowId, rec.outcome?.result ?? 'none']));
  for (const i of ids) {
    const res = outcomes.get(i.wf) ?? 'not finished';
    if (res === 'delivered') {
      r.violations++;
      r.failures.push(`FT descriptor ${i.url} was delivered (fetched?)`);
    }
    r.figures[`FT ${i.url} outcome`] = res;
  }
  check('connections to the loopback listener from FT descriptors', connections === 0, String(connections));
  await new Promise((res) => listener.close(res));

  // Media ids the store never issued.
  for (const path of [
    '/m/AAAAAAAAAAAAAAAAAAAAAA',
    `/m/${token('x')}`,
    '/m/../audit.jsonl',
    '/m/%2e%2e%2faudit.jsonl',
    '/m/..%2f..%2fiwf.yaml',
    '/m/',
    '/audit.jsonl',
    '/iwf.yaml',
  ]) {
    const s = await httpGet(media, path);
    check(`GET ${path}`, s === 404 || s === 400, String(s));
  }

  // What became of the foreign-domain MM4_forward.REQs that were taken: their outcome and the .RES.
  const relayDeadline = Date.now() + 60_000;
  while (Date.now() < relayDeadline && !relayToks.every((x) => x.refused || rig.mmsc.resFor(`T-M-${x.tok}`).length > 0))
    await sleep(250);
  for (const { tok, to, refused, answer } of relayToks) {
    const rec = rig.iwf.auditRecords().find((x) => x.workflowId === mmsWorkflowId(tok));
    const res = rig.mmsc.resFor(`T-M-${tok}`)[0];
    r.figures[`relay ${tok} outcome`] =
      `${answer}; ${rec?.outcome?.result ?? 'not finished'}, .RES ${res?.requestStatus ?? 'none'}`;
    const answeredError = res !== undefined && res.requestStatus !== 'Ok';
    check(`MM4 relay to ${to.split('@')[1]} refused or answered with an error .RES`, refused || answeredError, answer);
  }
  // The recipient side of relaying: nothing sent on to anybody for a foreign-domain recipient.
  const relayed = rig.uas.transactions().filter((tx) => tx.token?.startsWith('rel-r5r-'));
  check('deliveries carried for foreign-domain recipients', relayed.length === 0, String(relayed.length));

  r.crashes = rig.iwf.unexpectedExits.length - crashesBefore;
  if (!alive(rig.iwf.pid)) r.crashes = Math.max(1, r.crashes);
  r.rssAfterKb = rig.iwf.rssKb();
  return r;
}
