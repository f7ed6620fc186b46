/**
 * SIPp (an independent SIP implementation) against our endpoint, both directions, UDP and TCP.
 * SIPp listens on 127.0.0.1 on a port of its own.
 */
import { createSipEndpoint } from '../../../clients/sip/endpoint.js';
import { getHeader, type SipRequest } from '../../../protocols/sip/message.js';
import { runSipp, startSipp } from '../../helpers/sipp.js';
import { testWith } from '../../helpers/tools.js';
import { quiet } from './fixtures.js';

const CPIM = [
  'From: <tel:+12025550101>',
  'To: <tel:+12025550199>',
  'NS: imdn <urn:ietf:params:imdn>',
  'imdn.Message-ID: sipp-endpoint-1',
  '',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Grüße über SIPp',
].join('\r\n');

function cpimMessage(id: string) {
  return {
    method: 'MESSAGE',
    uri: 'tel:+12025550199',
    headers: [
      { name: 'From', value: `<tel:+12025550101>;tag=${id}` },
      { name: 'To', value: '<tel:+12025550199>' },
      { name: 'Call-ID', value: `sipp-${id}` },
      { name: 'CSeq', value: '1 MESSAGE' },
      { name: 'Content-Type', value: 'message/cpim' },
    ],
    body: Buffer.from(CPIM, 'utf8'),
  };
}

for (const transport of ['udp', 'tcp'] as const) {
  for (const status of [202, 480]) {
    testWith('sipp').serial(
      `our MESSAGE over ${transport} to a SIPp UAS comes back with its status ${status}`,
      async (t) => {
        const sipp = await startSipp(
          { scenario: 'uas-message.xml', transport, set: { status: String(status) }, timeoutSeconds: 20 },
          t,
        );
        const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, timers: { t1: 100 }, log: quiet });
        try {
          const res = await a.sendRequest(cpimMessage(`${transport}${status}`), {
            host: '127.0.0.1',
            port: sipp.port,
            transport,
          });
          t.is(res.status, status);
          t.truthy(/;tag=/.exec(getHeader(res.headers, 'To') ?? ''), 'SIPp added a To-tag');
          const run = await sipp.done;
          t.is(run.code, 0, `SIPp failed:\n${run.stderr}\n${run.errors}`);
          t.true(run.messages.includes('Grüße über SIPp'), 'the UTF-8 body reached SIPp intact');
          t.regex(run.messages, new RegExp(`Content-Length: ${Buffer.byteLength(CPIM)}\\r?\\n`));
        } finally {
          await a.close();
        }
      },
    );
  }

  testWith('sipp').serial(`a SIPp UAC's CPIM MESSAGE over ${transport} gets 202 from our endpoint`, async (t) => {
    const b = await createSipEndpoint({ host: '127.0.0.1', port: 0, log: quiet });
    const seen: SipRequest[] = [];
    b.onRequest((req, info) => {
      seen.push(req);
      t.is(info.transport, transport);
      return { status: 202 };
    });
    try {
      const run = await runSipp(
        {
          scenario: 'uac-message.xml',
          transport,
          remote: `127.0.0.1:${b.port}`,
          service: '+4915112345678',
          timeoutSeconds: 20,
        },
        t,
      );
      t.is(run.code, 0, `SIPp failed:\n${run.stderr}\n${run.errors}`);
      t.regex(run.messages, /SIP\/2.0 202 Accepted/);
      t.is(seen.length, 1);
      t.is(getHeader(seen[0].headers, 'Content-Type'), 'message/cpim');
      t.regex(seen[0].body.toString('utf8'), /Hello from SIPp\r\n$/);
    } finally {
      await b.close();
    }
  });
}
