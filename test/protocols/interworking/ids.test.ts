import test from 'ava';
import { idPart, originatorKey } from '../../../protocols/interworking/ids.js';

test('a plain system mailbox stays readable in the workflow id, lower-cased', (t) => {
  t.is(originatorKey('System-User@MMS.mnc001.mcc001.gprs'), 'system-user@mms.mnc001.mcc001.gprs');
});

test('what is not a plain system mailbox becomes a digest: no phone number, no unbounded string in the id', (t) => {
  for (const odd of [
    'system=mmsc.vc.test;party=+12025550100',
    '+12025550100/TYPE=PLMN@mms.example.net',
    '12025550100@mms.example.net',
    `${'a'.repeat(500)}@mms.example.net`,
    'mmsc.example.net',
  ]) {
    const k = originatorKey(odd);
    t.regex(k, /^h\.[A-Za-z0-9_-]{22}$/, odd);
    t.false(k.includes('2025550100'), odd);
  }
  t.is(originatorKey('system=a;party=+1'), originatorKey(' SYSTEM=A;party=+1 '), 'stable across case and spacing');
  t.not(originatorKey('system=a;party=+1'), originatorKey('system=b;party=+1'));
});

test('a peer id that Temporal could not take in a workflow id (too long, odd bytes) becomes a digest', (t) => {
  t.is(idPart('M-1.abc@mmsc'), 'M-1.abc@mmsc');
  for (const odd of ['x'.repeat(2000), 'with space', 'nul\u0000', 'ümlaut', ''])
    t.regex(idPart(odd), /^h\.[A-Za-z0-9_-]{22}$/);
  t.not(idPart('x'.repeat(2000)), idPart('x'.repeat(2001)));
});
