/**
 * routeMm4Pdu hands what the MM4 reader tolerated in a report or .RES (another MMSC's dialect)
 * and the headers it could not read to the delivery, as notes for its audit trail.
 */
import test from 'ava';
import { routeMm4Pdu } from '../../ingress/routes.js';
import { mintMm4Id } from '../../protocols/interworking/ids.js';
import { parseMm4 } from '../../protocols/mm4/pdu.js';

const WF = 'cpm-to-mms/abc/imdn-1';

function report(lines: string[]) {
  const raw = Buffer.from(
    [
      'From: +33612345678/TYPE=PLMN@mmsc.vc.test',
      'To: +12025550101/TYPE=PLMN@mms.iwf.example.net',
      'Date: Tue, 04 Mar 2025 10:15:02 +0000',
      'Message-ID: <r1@mmsc.vc.test>',
      'MIME-Version: 1.0',
      'X-Mms-3GPP-MMS-Version: 6.16.0',
      'X-Mms-Transaction-ID: "VC-DR-1"',
      `X-Mms-Message-ID: "${mintMm4Id(WF, 'm')}"`,
      'X-Mms-Ack-Request: Yes',
      ...lines,
      'Content-Type: text/plain; charset=us-ascii',
      '',
      '',
    ].join('\r\n'),
  );
  const r = parseMm4(raw);
  if (!r.ok) throw new Error(JSON.stringify(r));
  return r.pdu;
}

test('a delivery report with X-Mms-Status only: routed with the status and a note saying so', (t) => {
  const route = routeMm4Pdu(report(['X-Mms-Message-Type: MM4_delivery_report.REQ', 'X-Mms-Status: Retrieved']));
  t.is(route?.workflowId, WF);
  t.is(route?.signal.status, 'Retrieved');
  t.deepEqual(route?.signal.notes, ['tolerated: X-Mms-Status used for the missing X-Mms-MM-Status-Code']);
});

test('an unreadable header is named in the notes; a standard report has none', (t) => {
  const odd = routeMm4Pdu(
    report([
      'X-Mms-Message-Type: MM4_delivery_report.REQ',
      'X-Mms-MM-Status-Code: Retrieved',
      'X-Mms-Forward-To-Originator-UA: Perhaps',
    ]),
  );
  t.is(odd?.signal.notes?.length, 1, JSON.stringify(odd?.signal.notes));
  t.regex(odd?.signal.notes?.[0] ?? '', /^unreadable X-Mms-Forward-To-Originator-UA 'Perhaps' \(.+\): left out$/);
  const std = routeMm4Pdu(report(['X-Mms-Message-Type: MM4_delivery_report.REQ', 'X-Mms-MM-Status-Code: Retrieved']));
  t.is(std?.signal.notes, undefined, 'no notes field at all: signals stay as they were');
});

test('notes are bounded, whatever a peer writes', (t) => {
  const route = routeMm4Pdu({
    ...report(['X-Mms-Message-Type: MM4_delivery_report.REQ', 'X-Mms-MM-Status-Code: Retrieved']),
    tolerated: Array.from({ length: 50 }, (_, i) => `habit ${i}`),
  });
  t.is(route?.signal.notes?.length, 8);
});
