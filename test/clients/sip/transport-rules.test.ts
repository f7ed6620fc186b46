/**
 * RFC 3261 18.1.1 transport rules for requests we originate: a request too large for UDP goes over
 * TCP (with a TCP Via), and our TCP connections leave from the address we listen on.
 */
import test from 'ava';
import { createSipEndpoint, maxUdpRequestBytes } from '../../../clients/sip/endpoint.js';
import { parseVia } from '../../../protocols/sip/headers.js';
import { getHeader, type SipRequest } from '../../../protocols/sip/message.js';
import { message, quiet } from './fixtures.js';

test('the UDP size limit is 1300 bytes, or 200 below a known path MTU', (t) => {
  t.is(maxUdpRequestBytes(), 1300);
  t.is(maxUdpRequestBytes(1500), 1300);
  t.is(maxUdpRequestBytes(1280), 1080);
});

async function peer(host: string) {
  const b = await createSipEndpoint({ host, port: 0, log: quiet });
  const seen: { req: SipRequest; transport: string; remote: string }[] = [];
  b.onRequest((req, info) => {
    seen.push({ req, transport: info.transport, remote: info.remote.host });
    return { status: 202 };
  });
  return { b, seen };
}

test('a request over 1300 bytes asked for UDP goes over TCP, its top Via saying TCP; a small one stays on UDP', async (t) => {
  const { b, seen } = await peer('127.0.0.1');
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, log: quiet });
  try {
    const small = message('small');
    const large = { ...message('large'), body: Buffer.from('ü'.repeat(2500), 'utf8') };
    t.is((await a.sendRequest(small, { host: '127.0.0.1', port: b.port, transport: 'udp' })).status, 202);
    t.is((await a.sendRequest(large, { host: '127.0.0.1', port: b.port, transport: 'udp' })).status, 202);
    t.deepEqual(
      seen.map((s) => [s.transport, parseVia(getHeader(s.req.headers, 'Via')!)?.transport]),
      [
        ['udp', 'UDP'],
        ['tcp', 'TCP'],
      ],
    );
    t.is(seen[1].req.body.length, 5000, 'the whole body arrived');
  } finally {
    await a.close();
    await b.close();
  }
});

test('a request too large for UDP fails clearly when TCP is refused', async (t) => {
  const { b } = await peer('127.0.0.1');
  const port = b.port;
  await b.close(); // nothing listens there any more: the TCP connect is refused
  const a = await createSipEndpoint({ host: '127.0.0.1', port: 0, log: quiet });
  try {
    const large = { ...message('refused'), body: Buffer.alloc(2000, 0x61) };
    const res = await a.sendRequest(large, { host: '127.0.0.1', port, transport: 'udp' });
    t.is(res.status, 503);
    t.regex(res.reason, /needs TCP, RFC 3261 18\.1\.1: ECONNREFUSED/);
  } finally {
    await a.close();
  }
});

test('outgoing TCP connections leave from the listen address, not 127.0.0.1', async (t) => {
  const { b, seen } = await peer('127.0.0.1');
  const a = await createSipEndpoint({ host: '127.0.0.57', port: 0, log: quiet });
  try {
    t.is((await a.sendRequest(message('src'), { host: '127.0.0.1', port: b.port, transport: 'tcp' })).status, 202);
    t.is(seen[0].remote, '127.0.0.57');
  } finally {
    await a.close();
    await b.close();
  }
});
