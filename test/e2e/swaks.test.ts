/**
 * The README's manual walkthrough, automated: swaks (a real, independent SMTP client) sends the
 * MM4_forward.REQ exactly as the README shows, and the MMSC listener gets MM4_forward.RES Ok.
 */
import { spawn } from 'node:child_process';
import { waitFor } from '../helpers/ports.js';
import { startMmsToCpmRig } from '../helpers/rig.js';
import { testWith } from '../helpers/tools.js';

function run(
  cmd: string,
  args: string[],
  input: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

testWith('swaks')('an MM4 text message sent with swaks as in the README is delivered and acknowledged', async (t) => {
  const rig = await startMmsToCpmRig();
  const { mmsc, peer, iwf } = rig;
  try {
    // swaks treats a leading '+' as an option prefix, so the addresses come on stdin (README).
    // Asynchronous: the IWF under test runs in this very process and must keep answering.
    const r = await run(
      'swaks',
      [
        '--server',
        '127.0.0.1',
        '--port',
        String(iwf.mm4.port),
        '--ehlo',
        'mms.mnc001.mcc001.gprs',
        '--from',
        '--to',
        '--header',
        'X-Mms-3GPP-MMS-Version: 6.16.0',
        '--header',
        'X-Mms-Message-Type: MM4_forward.REQ',
        '--header',
        'X-Mms-Transaction-ID: "T-swaks"',
        '--header',
        'X-Mms-Message-ID: "M-swaks"',
        '--header',
        'X-Mms-Ack-Request: Yes',
        '--header',
        'X-Mms-Originator-System: system-user@mms.mnc001.mcc001.gprs',
        '--header',
        'X-Mms-Delivery-Report: Yes',
        '--body',
        'Lunch at 12:30?',
      ],
      '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs\n+12025550199/TYPE=PLMN@mms.iwf.example.net\n',
    );
    t.is(r.status, 0, r.stdout + r.stderr);
    t.regex(r.stdout, /<- {2}250 2\.0\.0 queued as mms-to-cpm\/system-user@mms\.mnc001\.mcc001\.gprs\/M-swaks/);
    const res = await waitFor('.RES', () => mmsc.received.find((m) => m.transactionId === 'T-swaks'));
    t.is(res.requestStatus, 'Ok');
    const msg = peer.seen.find((s) => s.req.method === 'MESSAGE');
    t.is(msg?.req.uri, 'sip:+12025550199@ims.iwf.example.net;user=phone');
    t.regex(msg?.req.body.toString() ?? '', /\r\n\r\nLunch at 12:30\?$/);
  } finally {
    await rig.stop();
  }
});
