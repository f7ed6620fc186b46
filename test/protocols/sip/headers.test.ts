import test from 'ava';
import fc from 'fast-check';
import {
  formatVia,
  parseCSeq,
  parseNameAddrParams,
  parseVia,
  parseViaList,
  splitList,
} from '../../../protocols/sip/headers.js';

test('parseVia reads the first via-parm: transport, host, port and parameters', (t) => {
  t.deepEqual(parseVia('SIP/2.0/udp 10.0.0.1:5070;branch=z9hG4bKx;rport, SIP/2.0/TCP other'), {
    transport: 'UDP',
    host: '10.0.0.1',
    port: 5070,
    params: { branch: 'z9hG4bKx', rport: '' },
  });
  t.deepEqual(parseVia('SIP/2.0/TCP [::1]:5060;branch=b'), {
    transport: 'TCP',
    host: '::1',
    port: 5060,
    params: { branch: 'b' },
  });
  t.deepEqual(parseVia('SIP / 2.0 / TLS  host.example.net ; Branch = z9hG4bK9 ; received=1.2.3.4'), {
    transport: 'TLS',
    host: 'host.example.net',
    port: undefined,
    params: { branch: 'z9hG4bK9', received: '1.2.3.4' },
  });
});

test('parseVia refuses what is not a via-parm', (t) => {
  for (const v of [
    '',
    'SIP/2.0/UDP',
    'SIP/3.0/UDP h',
    'HTTP/1.1 h',
    'SIP/2.0/UDP h:0',
    'SIP/2.0/UDP h:70000',
    'SIP/2.0/UDP [::1',
    'SIP/2.0/UDP h:5060x',
    'SIP/2.0/U;DP h',
  ]) {
    t.is(parseVia(v), undefined, v);
  }
});

test('parseViaList reads every via-parm of a comma list, or nothing if one is malformed', (t) => {
  const list = parseViaList('SIP/2.0/UDP a:1;branch=z9hG4bK1, SIP/2.0/TCP b;branch=z9hG4bK2;received=10.0.0.2');
  t.deepEqual(
    list?.map((v) => `${v.transport} ${v.host} ${v.params.branch}`),
    ['UDP a z9hG4bK1', 'TCP b z9hG4bK2'],
  );
  t.is(parseViaList('SIP/2.0/UDP a, garbage'), undefined);
});

test('formatVia writes what parseVia reads', (t) => {
  const v = { transport: 'UDP', host: '::1', port: 5060, params: { branch: 'z9hG4bKabc', rport: '', received: '::1' } };
  t.is(formatVia(v), 'SIP/2.0/UDP [::1]:5060;branch=z9hG4bKabc;rport;received=::1');
  t.deepEqual(parseVia(formatVia(v)), v);
});

test('parseCSeq reads the number and keeps the method as written', (t) => {
  t.deepEqual(parseCSeq(' 7   MESSAGE '), { seq: 7, method: 'MESSAGE' });
  t.deepEqual(parseCSeq('1 message'), { seq: 1, method: 'message' }, 'methods are case-sensitive (RFC 3261 7.1)');
  t.is(parseCSeq('2147483648 MESSAGE'), undefined, 'at most 2**31 - 1');
  t.is(parseCSeq('x MESSAGE'), undefined);
  t.is(parseCSeq('1'), undefined);
});

test('parseNameAddrParams separates display name, URI and header parameters', (t) => {
  t.deepEqual(parseNameAddrParams('"A, B" <sip:a@x;lr>;tag=9'), {
    uri: 'sip:a@x;lr',
    display: 'A, B',
    params: { tag: '9' },
  });
  t.deepEqual(parseNameAddrParams('"say \\"<hi>\\"" <tel:+1202>;tag=Ab'), {
    uri: 'tel:+1202',
    display: 'say "<hi>"',
    params: { tag: 'Ab' },
  });
  t.deepEqual(parseNameAddrParams('Bob <sip:b@x>'), { uri: 'sip:b@x', display: 'Bob', params: {} });
  t.deepEqual(
    parseNameAddrParams('sip:b@x;tag=1;user=phone'),
    { uri: 'sip:b@x', params: { tag: '1', user: 'phone' } },
    'addr-spec parameters are header parameters',
  );
  t.is(parseNameAddrParams('<sip:b@x'), undefined);
  t.is(parseNameAddrParams(''), undefined);
});

test('splitList keeps commas inside quotes and angle brackets', (t) => {
  t.deepEqual(splitList('"a, b" <sip:x@y;p=1,2>;q=1, <sip:z@w> ,,'), ['"a, b" <sip:x@y;p=1,2>;q=1', '<sip:z@w>']);
});

test('header value parsers never throw on hostile strings', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => {
      parseVia(s);
      parseViaList(s);
      parseCSeq(s);
      parseNameAddrParams(s);
      splitList(s);
      return true;
    }),
  );
  // CPU time of this process, not wall time: a busy machine does not fail it.
  const start = process.cpuUsage();
  parseVia(`SIP/2.0/UDP ${'a'.repeat(50_000)}:${'1'.repeat(50_000)}`);
  parseNameAddrParams(`${'"'.repeat(50_001)}<`);
  const used = process.cpuUsage(start);
  t.true((used.user + used.system) / 1000 < 500, 'no regex trap on long values');
});
