import type { SipRequest } from '../../protocols/sip/message.js';
import { startTestIwf, startTestTemporal, type TestIwfOptions } from './iwf.js';
import { startFakeMmsc, type MmscHabits, type ReceivedMm4 } from './mmsc.js';
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

/**
 * The MM4 dialect rig: two MMSC peers at the same source address (127.0.0.1), so the IWF tells
 * them apart by domain. `operator-a` is the standard test MMSC (mms.mnc001.mcc001.gprs, numbers
 * +49); `dialect` speaks the `habits` (test/helpers/mmsc.ts) as peer `operator-vc`, configured
 * with `peer` (its domains, numbers, profile, mm4 rules). Both answer the IWF's MM4_forward.REQ
 * and reports as their habits say; the SIP peer at the outbound proxy answers 202.
 */
export async function startMm4DialectRig(o: {
  habits: MmscHabits;
  /** The `mm4.peers[]` entry of the dialect MMSC, without `smtp` (set to its port) and `allow`. */
  peer: Record<string, unknown> & { name: string; domains: string[] };
  /** The MM4_forward.RES status the dialect MMSC answers with per REQ (default Ok). */
  forwardStatus?: (m: ReceivedMm4) => string | undefined;
  iwf?: Omit<TestIwfOptions, 'temporalAddress' | 'mmscPort' | 'outboundProxyPort' | 'extraPeers'>;
}) {
  const temporal = await startTestTemporal();
  const standard = await startFakeMmsc();
  const dialect = await startFakeMmsc(0, undefined, o.habits);
  const peer = await startSipPeer();
  const iwf = await startTestIwf({
    ...o.iwf,
    temporalAddress: temporal.address,
    mmscPort: standard.port,
    outboundProxyPort: peer.port,
    extraPeers: [{ allow: ['127.0.0.1'], ...o.peer, smtp: `127.0.0.1:${dialect.port}` }],
  });
  for (const m of [standard, dialect]) {
    m.answerReports(iwf.mm4.port);
    m.answerForwards(iwf.mm4.port, m === dialect ? o.forwardStatus : undefined);
  }
  return {
    temporal,
    standard,
    dialect,
    peer,
    iwf,
    async stop() {
      await iwf.stop();
      await peer.close();
      await dialect.close();
      await standard.close();
      await temporal.stop();
    },
  };
}
