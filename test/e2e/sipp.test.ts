/**
 * SIPp (Debian sip-tester) as an independent SIP peer at the outbound proxy: the IWF's MESSAGE
 * must satisfy a third-party SIP implementation over UDP and over TCP.
 */
import test from 'ava';
import { startTestIwf, startTestTemporal } from '../helpers/iwf.js';
import { forwardReq, sendMm4, startFakeMmsc } from '../helpers/mmsc.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { runSipp, scenarioWithStatus, SIPP_DIR } from '../helpers/sipp.js';
import { testWith } from '../helpers/tools.js';

const sippTest = testWith('sipp');

let temporal: Awaited<ReturnType<typeof startTestTemporal>>;
let mmsc: Awaited<ReturnType<typeof startFakeMmsc>>;
test.before(async () => {
  temporal = await startTestTemporal();
  mmsc = await startFakeMmsc();
});
test.after.always(async () => {
  await mmsc?.close();
  await temporal?.stop();
});

async function deliverThroughSipp(
  t: import('ava').ExecutionContext,
  transport: 'udp' | 'tcp',
  scenario: string,
  id: string,
) {
  const port = await freePort();
  const sipp = runSipp(
    scenario,
    ['-i', '127.0.0.1', '-p', String(port), '-t', transport === 'udp' ? 'u1' : 't1', '-m', '1'],
    60,
  );
  const iwf = await startTestIwf({
    temporalAddress: temporal.address,
    mmscPort: mmsc.port,
    outboundProxyPort: port,
    proxyTransport: transport,
  });
  try {
    const sent = await sendMm4(iwf.mm4.port, forwardReq({ messageId: id, text: `via SIPp over ${transport}` }), {
      from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
      to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
    });
    t.true(sent.ok);
    const res = await waitFor(`.RES ${id}`, () => mmsc.received.find((r) => r.transactionId === `T-${id}`), 60_000);
    const run = await sipp.done;
    return { res, run };
  } finally {
    sipp.kill();
    await iwf.stop();
  }
}

for (const transport of ['udp', 'tcp'] as const) {
  sippTest(`SIPp accepts the IWF's CPIM MESSAGE over ${transport} and the MMSC gets Ok`, async (t) => {
    const { res, run } = await deliverThroughSipp(t, transport, `${SIPP_DIR}uas-message.xml`, `M-sipp-${transport}`);
    t.is(run.code, 0, `SIPp failed:\n${run.stderr}\n${run.messages}`);
    t.regex(run.messages, /MESSAGE sip:\+12025550199@ims\.iwf\.example\.net;user=phone SIP\/2.0/);
    t.regex(run.messages, new RegExp(`via SIPp over ${transport}`));
    t.is(res.requestStatus, 'Ok');
  });
}

sippTest('a SIPp refusal (403) becomes Error-service-denied', async (t) => {
  const { res, run } = await deliverThroughSipp(
    t,
    'udp',
    scenarioWithStatus('uas-message.xml', '403 Forbidden'),
    'M-sipp-403',
  );
  t.is(run.code, 0, run.stderr);
  t.is(res.requestStatus, 'Error-service-denied');
});
