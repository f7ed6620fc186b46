import type { SipRequest } from '../../protocols/sip/message.js';
import { startTestIwf, startTestTemporal, type TestIwfOptions } from './iwf.js';
import { startFakeMmsc, type ReceivedMm4 } from './mmsc.js';
import { startSipPeer } from './sip-peer.js';

/**
 * The MMS -> CPM test rig, all real: a Temporal dev server, a fake MMSC (SMTP) that answers the
 * IWF's reports like an MMSC, a SIP peer at the outbound proxy, and the IWF in this process.
 */
export async function startMmsToCpmRig(
  o: {
    /** The CPM side's SIP status per request (default 202). */
    answer?: (req: SipRequest, n: number) => number | Promise<number>;
    iwf?: Omit<TestIwfOptions, 'temporalAddress' | 'mmscPort' | 'outboundProxyPort'>;
    /** Reports the MMSC leaves unanswered (to test resends). */
    unansweredReports?: (m: ReceivedMm4) => boolean;
  } = {},
) {
  const temporal = await startTestTemporal();
  const mmsc = await startFakeMmsc();
  const peer = await startSipPeer(o.answer);
  const iwf = await startTestIwf({
    ...o.iwf,
    temporalAddress: temporal.address,
    mmscPort: mmsc.port,
    outboundProxyPort: peer.port,
  });
  mmsc.answerReports(iwf.mm4.port, o.unansweredReports);
  return {
    temporal,
    mmsc,
    peer,
    iwf,
    async stop() {
      await iwf.stop();
      await peer.close();
      await mmsc.close();
      await temporal.stop();
    },
  };
}
