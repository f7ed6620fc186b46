/**
 * One datagram must never stop the endpoint. A NUL in Call-ID or Via used to pass the parser, make
 * the serializer refuse the answer, the fallback 500 too, and escape as an uncaught exception.
 */
import test from 'ava';
import dgram from 'node:dgram';
import { createSipEndpoint } from '../../../clients/sip/endpoint.js';
import { parseSipMessage } from '../../../protocols/sip/message.js';
import { message, quiet } from './fixtures.js';

function request(callId: string, via = 'SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-hostile;rport') {
  return [
    'MESSAGE sip:iwf@127.0.0.1 SIP/2.0',
    `Via: ${via}`,
    'From: <sip:a@example.net>;tag=1',
    'To: <sip:iwf@127.0.0.1>',
    `Call-ID: ${callId}`,
    'CSeq: 1 MESSAGE',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

test('the parser refuses control characters in header values and the start line', (t) => {
  const r = parseSipMessage(Buffer.from(request('nul\x00x@h').replace('{port}', '5060')));
  t.false(r.ok);
  t.regex(!r.ok ? r.error : '', /control character in Call-ID/);
  t.false(!r.ok && r.partial?.headers.some((h) => h.name === 'Call-ID'), 'the bad header is not in partial');
  t.false(parseSipMessage(Buffer.from('MESSAGE sip:a\x00b@h SIP/2.0\r\nVia: x\r\n\r\n')).ok);
});

test('a MESSAGE with a NUL in Call-ID gets 400; one with a NUL in Via is dropped; the endpoint keeps serving', async (t) => {
  const iwf = await createSipEndpoint({ host: '127.0.0.1', port: 0, log: quiet });
  iwf.onRequest(() => ({ status: 202 }));
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const answers: string[] = [];
  const answered = new Promise<void>((resolve) =>
    sock.on('message', (m) => {
      answers.push(m.toString('latin1').split('\r\n')[0]);
      resolve();
    }),
  );
  const port = sock.address().port;
  const send = (s: string) =>
    new Promise<void>((r) =>
      sock.send(Buffer.from(s.replace('{port}', String(port)), 'latin1'), iwf.port, '127.0.0.1', () => r()),
    );
  try {
    await send(request('ok-1', `SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-n\x00ul;rport`));
    await send(request('nul\x00x@h'));
    await answered;
    t.deepEqual(answers, ['SIP/2.0 400 Bad Request (control character in Call-ID)']);
    // Still alive: an ordinary request through a second endpoint is answered.
    const ua = await createSipEndpoint({ host: '127.0.0.1', port: 0, log: quiet });
    try {
      t.is(
        (await ua.sendRequest(message('after'), { host: '127.0.0.1', port: iwf.port, transport: 'udp' })).status,
        202,
      );
    } finally {
      await ua.close();
    }
  } finally {
    sock.close();
    await iwf.close();
  }
});
