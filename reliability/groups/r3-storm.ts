/**
 * R3: retransmission storms. The same MM4_forward.REQ sent N times one after another and at once
 * over several SMTP connections (an MMSC that lost our 250 resends it, 3GPP TS 23.140 §8.4.1: the
 * X-Mms-Message-ID names the MM); the same SIP MESSAGE datagram re-sent (same Call-ID, CSeq and
 * branch: one transaction, RFC 3261 §17.2.2), and the same imdn.Message-ID in new transactions
 * (a client's resend, RFC 5438 §6.3). Each storm must give exactly one delivery.
 */
import {
  cpmMessage,
  emptyResult,
  sleep,
  token,
  type Delivery,
  type GroupResult,
  type Rig,
  MMS_ENVELOPE,
  mmsForward,
} from '../harness.js';
import { sendMm4 } from '../../test/helpers/mmsc.js';

export async function r3Storm(rig: Rig, o: { short: boolean; log: (s: string) => void }): Promise<GroupResult> {
  const r = emptyResult('R3', 'retransmission storms (MM4 and SIP): exactly one delivery each');
  r.rssBeforeKb = rig.iwf.rssKb();
  const crashesBefore = rig.iwf.unexpectedExits.length;
  const storms = o.short ? 2 : 10;
  const n = o.short ? 5 : 20;
  const answers: Record<string, number> = {};
  const count = (k: string) => (answers[k] = (answers[k] ?? 0) + 1);
  const ds: Delivery[] = [];
  for (let s = 0; s < storms; s++) {
    // MM4: N in sequence, then N at once on N connections.
    const m: Delivery = { dir: 'mms-to-cpm', tok: token('rel-r3m-') };
    ds.push(m);
    const raw = mmsForward(m.tok);
    for (let i = 0; i < n; i++) {
      const a = await sendMm4(rig.iwf.ports.mm4, raw, MMS_ENVELOPE);
      count(`smtp ${a.ok ? 250 : a.code}`);
    }
    const many = await Promise.all(Array.from({ length: n }, () => sendMm4(rig.iwf.ports.mm4, raw, MMS_ENVELOPE)));
    for (const a of many) count(`smtp ${a.ok ? 250 : a.code}`);
    const m2: Delivery = { dir: 'mms-to-cpm', tok: token('rel-r3n-') };
    ds.push(m2);
    // At once from the first send (no earlier copy has started the delivery).
    const burst = await Promise.all(
      Array.from({ length: n }, () => sendMm4(rig.iwf.ports.mm4, mmsForward(m2.tok), MMS_ENVELOPE)),
    );
    for (const a of burst) count(`smtp ${a.ok ? 250 : a.code}`);

    // SIP: one datagram N times (one transaction), then the same imdn.Message-ID in N new transactions.
    const c: Delivery = { dir: 'cpm-to-mms', tok: token('rel-r3c-') };
    ds.push(c);
    const msg = cpmMessage({
      sipPort: rig.iwf.ports.sip,
      imdnId: `imdn-${c.tok}`,
      text: `reliability ${c.tok}`,
      localPort: rig.core.port,
    });
    const first = rig.core.once(msg.bytes, msg.branch, rig.iwf.ports.sip, 10_000);
    for (let i = 1; i < n; i++) rig.core.raw(msg.bytes, rig.iwf.ports.sip);
    count(`sip same datagram ${await first}`);
    const fresh = await Promise.all(
      Array.from({ length: n }, () => {
        const again = cpmMessage({
          sipPort: rig.iwf.ports.sip,
          imdnId: `imdn-${c.tok}`,
          text: `reliability ${c.tok}`,
          localPort: rig.core.port,
        });
        return rig.core.transaction(again.bytes, again.branch, rig.iwf.ports.sip, 10_000);
      }),
    );
    for (const a of fresh) count(`sip new transaction ${a}`);
    r.cases += 3;
  }
  await sleep(500);
  const s = await rig.settle(ds, 60_000);
  r.lost = s.lost.length;
  r.duplicated = s.duplicated.length;
  for (const d of s.lost) r.failures.push(`lost ${d.dir} ${d.tok}`);
  for (const d of s.duplicated) r.failures.push(`duplicated ${d.d.dir} ${d.d.tok}: ${d.why}`);
  for (const [k, v] of Object.entries(answers)) {
    r.figures[k] = v;
    if (/timeout/.test(k)) {
      r.hangs += v;
      r.failures.push(`${v} x ${k}`);
    } else if (/^smtp 421$/.test(k)) {
      // More parallel connections than the peer's mm4.peers[].maxConnections (10): 421 4.3.2 and
      // closed (RFC 5321 §3.8); an MMSC sends again later, and the copies that got in are the storm.
      r.figures['pushed back: connection limit (421)'] = v;
    } else if (!/ (250|202)$/.test(k)) {
      r.violations += v;
      r.failures.push(`${v} copies answered ${k} (a resend of an accepted request is accepted again)`);
    }
  }
  r.crashes = rig.iwf.unexpectedExits.length - crashesBefore;
  r.rssAfterKb = rig.iwf.rssKb();
  return r;
}
