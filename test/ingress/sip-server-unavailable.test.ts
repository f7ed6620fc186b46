import test from 'ava';
import { Client, Connection } from '@temporalio/client';
import { staticCpmDirectory } from '../../clients/cpm-directory.js';
import { createSipEndpoint } from '../../clients/sip/endpoint.js';
import { temporalDispatcher } from '../../ingress/dispatch.js';
import { attachSipIngress } from '../../ingress/sip-server.js';
import { freePort } from '../helpers/ports.js';

test('when Temporal cannot be reached a MESSAGE gets 503 with Retry-After, not a false 202', async (t) => {
  const client = new Client({ connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }) });
  const iwf = await createSipEndpoint({ host: '127.0.0.1', port: 0 });
  attachSipIngress(iwf, {
    trusted: ['127.0.0.1'],
    directory: staticCpmDirectory([]),
    isf: { maxMessageBytes: 10_000, maxFileBytes: 1e6, contentTypes: ['text/plain'], interworkCpmUsers: false },
    dispatcher: temporalDispatcher(client, 'iwf', 1500),
    mm4Ack: { timeoutMs: 1000, maxAttempts: 1 },
    reportWaitMs: 1000,
    log: { info() {}, warn() {} },
  });
  const ua = await createSipEndpoint({ host: '127.0.0.1', port: 0 });
  try {
    const cpim =
      'From: <tel:+12025550101>\r\nTo: <tel:+4915112345678>\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: down-1\r\n\r\nContent-Type: text/plain\r\n\r\nhi';
    const res = await ua.sendRequest(
      {
        method: 'MESSAGE',
        uri: 'tel:+4915112345678',
        headers: [
          { name: 'From', value: '<tel:+12025550101>;tag=1' },
          { name: 'To', value: '<tel:+4915112345678>' },
          { name: 'Call-ID', value: 'down-1' },
          { name: 'CSeq', value: '1 MESSAGE' },
          { name: 'P-Asserted-Identity', value: '<tel:+12025550101>' },
          { name: 'Content-Type', value: 'message/cpim' },
        ],
        body: Buffer.from(cpim),
      },
      { host: '127.0.0.1', port: iwf.port, transport: 'tcp' },
    );
    t.is(res.status, 503);
    t.is(res.headers.find((h) => h.name === 'Retry-After')?.value, '30');
  } finally {
    await ua.close();
    await iwf.close();
  }
});
