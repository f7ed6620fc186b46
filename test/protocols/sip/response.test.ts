import test from 'ava';
import { parseNameAddrParams } from '../../../protocols/sip/headers.js';
import { getHeader, getHeaders, parseSipMessage, type SipRequest } from '../../../protocols/sip/message.js';
import { createResponse, responseTarget } from '../../../protocols/sip/response.js';

function request(via: string, extra = ''): SipRequest {
  const r = parseSipMessage(
    Buffer.from(
      `MESSAGE sip:b@x SIP/2.0\r\nVia: ${via}\r\nVia: SIP/2.0/UDP proxy2:5060;branch=z9hG4bKp2\r\nFrom: <sip:a@x>;tag=a1\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: 4 MESSAGE\r\n${extra}\r\n`,
    ),
  );
  if (!r.ok || r.message.kind !== 'request') throw new Error('bad fixture');
  return r.message;
}
const source = { host: '192.0.2.7', port: 40000 };

test('a response copies Via, From, Call-ID and CSeq and adds the given To tag (RFC 3261 8.2.6)', (t) => {
  const res = createResponse(
    request('SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1, SIP/2.0/UDP proxy1;branch=z9hG4bKp1', 'Timestamp: 54\r\n'),
    {
      status: 202,
      headers: [
        { name: 'Call-ID', value: 'forged' },
        { name: 'Expires', value: '0' },
      ],
    },
    'tt',
    source,
  )!;
  t.is(res.reason, 'Accepted');
  t.deepEqual(getHeaders(res.headers, 'Via'), [
    'SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1, SIP/2.0/UDP proxy1;branch=z9hG4bKp1',
    'SIP/2.0/UDP proxy2:5060;branch=z9hG4bKp2',
  ]);
  t.is(getHeader(res.headers, 'From'), '<sip:a@x>;tag=a1');
  t.is(parseNameAddrParams(getHeader(res.headers, 'To')!)?.params.tag, 'tt');
  t.deepEqual(getHeaders(res.headers, 'Call-ID'), ['c1'], 'a handler cannot override the copied headers');
  t.is(getHeader(res.headers, 'CSeq'), '4 MESSAGE');
  t.is(getHeader(res.headers, 'Timestamp'), '54');
  t.is(getHeader(res.headers, 'Expires'), '0');
});

test('an existing To tag is kept and 100 Trying gets none', (t) => {
  const req = request('SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK1');
  req.headers = req.headers.map((h) => (h.name === 'To' ? { ...h, value: '<sip:b@x>;tag=old' } : h));
  t.is(getHeader(createResponse(req, { status: 200 }, 'new', source)!.headers, 'To'), '<sip:b@x>;tag=old');
  t.is(
    getHeader(createResponse(request('SIP/2.0/UDP h;branch=z9hG4bK1'), { status: 100 }, 'new', source)!.headers, 'To'),
    '<sip:b@x>',
  );
});

test('received is added when the source differs from sent-by, and with rport always (RFC 3261 18.2.1, RFC 3581)', (t) => {
  const top = (via: string) => getHeader(createResponse(request(via), { status: 200 }, 't', source)!.headers, 'Via');
  t.is(top('SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1'), 'SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1');
  t.is(
    top('SIP/2.0/UDP ua.example.net:5060;branch=z9hG4bK1'),
    'SIP/2.0/UDP ua.example.net:5060;branch=z9hG4bK1;received=192.0.2.7',
  );
  t.is(
    top('SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1;rport'),
    'SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1;rport=40000;received=192.0.2.7',
  );
});

test('a request whose top Via cannot be read gets no response', (t) => {
  t.is(createResponse(request('nonsense'), { status: 400 }, 't', source), undefined);
});

test('responses go to the source port only when rport was asked over UDP, else to the sent-by port (RFC 3261 18.2.2)', (t) => {
  t.deepEqual(responseTarget(request('SIP/2.0/UDP h:5070;branch=z9hG4bK1;rport'), 'udp', source), {
    host: '192.0.2.7',
    port: 40000,
  });
  t.deepEqual(responseTarget(request('SIP/2.0/UDP h:5070;branch=z9hG4bK1'), 'udp', source), {
    host: '192.0.2.7',
    port: 5070,
  });
  t.deepEqual(responseTarget(request('SIP/2.0/TCP h;branch=z9hG4bK1;rport'), 'tcp', source), {
    host: '192.0.2.7',
    port: 5060,
  });
});
