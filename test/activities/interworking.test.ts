import test from 'ava';
import { createInterworkingActivities } from '../../activities/interworking.js';
import { staticCpmDirectory } from '../../clients/cpm-directory.js';
import type { MmsToCpmInput } from '../../model/delivery.js';

const activities = (shortCodes?: Record<string, string>) =>
  createInterworkingActivities({
    directory: staticCpmDirectory(['+1202555*']),
    defaultCountry: 'US',
    sipDomain: 'ims.iwf.example.net',
    uriForm: 'sip',
    shortCodes,
    isf: { maxMessageBytes: 65536, maxFileBytes: 1e7, contentTypes: ['text/plain'], interworkCpmUsers: false },
    mm4: { domain: 'mms.iwf.example.net', peers: [] },
  });

const request = (from: string) =>
  ({
    mm4: {
      from,
      recipients: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
      deliveryReport: false,
      readReply: false,
    },
  }) as unknown as MmsToCpmInput;

test('a short code or alphanumeric sender in cpm.shortCodes becomes its configured CPM URI', async (t) => {
  const a = activities({
    '12345': 'sip:bank-alerts@ims.iwf.example.net',
    vodafone: 'sip:vodafone@ims.iwf.example.net',
  });
  t.is(
    (await a.convertMmsToCpm(request('12345/TYPE=PLMN@mms.mnc001.mcc001.gprs'))).senderUri,
    'sip:bank-alerts@ims.iwf.example.net',
  );
  t.is(
    (await a.convertMmsToCpm(request('Vodafone/TYPE=ALPHANUM@mms.mnc001.mcc001.gprs'))).senderUri,
    'sip:vodafone@ims.iwf.example.net',
  );
});

test('a short code not in the table is an address problem (Error-sending-address-unresolved), not a format one', async (t) => {
  const e = await t.throwsAsync(activities().convertMmsToCpm(request('12345/TYPE=PLMN@mms.mnc001.mcc001.gprs')));
  t.is((e as { type?: string }).type, 'AddressNotRoutable');
  t.regex(e.message, /short code/);
});

test('an unparseable sender is still a format problem', async (t) => {
  const e = await t.throwsAsync(activities().convertMmsToCpm(request('<<>>')));
  t.is((e as { type?: string }).type, 'MalformedMessage');
});
