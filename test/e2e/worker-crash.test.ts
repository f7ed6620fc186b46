/**
 * Durability: the IWF process is killed (SIGKILL) while its SIP MESSAGE is in flight. A new
 * process picks the delivery up from Temporal and completes it; the CPM side sees only a
 * retransmission of the same SIP request (same Call-ID, CSeq and imdn.Message-ID), and the MMSC
 * gets exactly one MM4_forward.RES.
 */
import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { cpimHeader, IMDN_NS, parseCpim } from '../../protocols/cpim/cpim.js';
import { mmsToCpmWorkflowId } from '../../workflows/messages.js';
import { startTestTemporal, testConfigTree } from '../helpers/iwf.js';
import { startIwfProcess } from '../helpers/iwf-process.js';
import { forwardReq, sendMm4, startFakeMmsc } from '../helpers/mmsc.js';
import { startSipPeer } from '../helpers/sip-peer.js';

test('a delivery survives the IWF process being killed mid-flight and is sent once', async (t) => {
  t.timeout(180_000);
  const temporal = await startTestTemporal();
  const mmsc = await startFakeMmsc();
  let victim: ChildProcess | undefined;
  const peer = await startSipPeer(async (_req, n) => {
    if (n === 1) {
      victim?.kill('SIGKILL'); // the answer to this transaction never reaches the dead process
      await new Promise((r) => setTimeout(r, 200));
    }
    return 202;
  });
  const dir = mkdtempSync(join(tmpdir(), 'iwf-crash-'));
  const configFile = join(dir, 'iwf.json');
  const tree = testConfigTree({ temporalAddress: temporal.address, mmscPort: mmsc.port, outboundProxyPort: peer.port });
  writeFileSync(configFile, JSON.stringify({ ...tree, log: { level: 'info' }, dataDir: dir }));

  let second: ChildProcess | undefined;
  const connection = await Connection.connect({ address: temporal.address });
  try {
    const first = await startIwfProcess(configFile);
    victim = first.child;
    const exited = new Promise((r) => first.child.once('exit', r));
    // No delivery report asked: the delivery ends with its .RES, so its end bounds what it sends.
    const sent = await sendMm4(first.mm4Port, forwardReq({ messageId: 'M-crash', deliveryReport: false }), {
      from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
      to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
    });
    t.true(sent.ok, 'SMTP 250 before the crash: the delivery is durably recorded');
    await exited;
    t.is(mmsc.received.length, 0, 'no .RES before the crash');

    second = (await startIwfProcess(configFile)).child;
    const handle = new Client({ connection }).workflow.getHandle(
      mmsToCpmWorkflowId('system-user@mms.mnc001.mcc001.gprs', 'M-crash'),
    );
    t.like(await handle.result(), { result: 'delivered' });
    const res = mmsc.received.find((r) => r.transactionId === 'T-M-crash');
    t.is(res?.requestStatus, 'Ok');

    const msgs = peer.seen.filter((s) => s.req.method === 'MESSAGE');
    t.true(msgs.length >= 2, 'the restarted IWF resent the in-flight request');
    t.is(new Set(msgs.map((m) => `${m.callId} ${m.cseq}`)).size, 1, 'every copy is the same SIP request');
    const imdnIds = msgs.map((m) => {
      const c = parseCpim(m.req.body);
      return c.ok ? cpimHeader(c.message, 'Message-ID', IMDN_NS) : undefined;
    });
    t.is(new Set(imdnIds).size, 1, 'and the same CPM message');
    t.is(mmsc.received.filter((r) => r.transactionId === 'T-M-crash').length, 1);
  } finally {
    second?.kill('SIGTERM');
    victim?.kill('SIGKILL');
    if (second && second.exitCode === null) await new Promise((r) => second!.once('exit', r));
    await connection.close();
    await peer.close();
    await mmsc.close();
    await temporal.stop();
  }
});
