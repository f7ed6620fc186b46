import test from 'ava';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { buildConfig, ConfigError, loadConfig } from '../../worker/config.js';
import type { Obj } from '../../worker/config-schema.js';

const example = new URL('../../iwf.example.yaml', import.meta.url);

test('the documented example configuration is valid and means what it says', (t) => {
  const c = buildConfig(parse(readFileSync(example, 'utf8')) as Obj, {});
  t.deepEqual(c.mm4.listen, { host: '127.0.0.1', port: 2525 });
  t.deepEqual(c.sip.outboundProxy, { host: '127.0.0.1', port: 5070 });
  t.is(c.mm4.peers[0].name, 'operator-a');
  t.deepEqual(c.mm4.peers[0].smtp, { host: '127.0.0.1', port: 2526 });
  t.is(c.sip.timers.t1, 500);
  t.is(c.delivery.retry.initialIntervalMs, 30_000);
  t.is(c.delivery.defaultExpiryMs, 3 * 86_400_000);
  t.is(c.delivery.maxExpiryMs, 7 * 86_400_000);
  t.deepEqual(c.cpm.users, ['+1202555*']);
  t.is(c.temporal.address, undefined);
});

test('an empty configuration gets the documented defaults', (t) => {
  const c = buildConfig({}, {});
  t.deepEqual(c.mm4.listen, { host: '127.0.0.1', port: 2525 });
  t.deepEqual(c.sip.listen, { host: '127.0.0.1', port: 5060 });
  t.is(c.temporal.taskQueue, 'iwf');
  t.is(c.mm4.systemAddress, 'mm4-system@mms.iwf.example.net');
});

test('environment variables override the common keys', (t) => {
  const c = buildConfig(
    { temporal: { address: 'a:1' } },
    { TEMPORAL_ADDRESS: '10.0.0.1:7233', IWF_SIP_OUTBOUND_PROXY: 'proxy:5080' },
  );
  t.is(c.temporal.address, '10.0.0.1:7233');
  t.deepEqual(c.sip.outboundProxy, { host: 'proxy', port: 5080 });
});

test('every bad key is named in one error', (t) => {
  const err = t.throws(
    () =>
      buildConfig({
        mm4: {
          lisen: 'x',
          listen: 'nohost',
          peers: [
            { name: 'a', allow: 'x' },
            { name: 'a', smtp: '1.2.3.4:25' },
          ],
        },
        sip: { transport: 'sctp', timers: { t1: 'fast' } },
        cpm: { users: ['abc'], defaultCountry: 'USA' },
        delivery: { retry: { maxAttempts: 0 } },
      }),
    { instanceOf: ConfigError },
  );
  const msg = err.message;
  for (const key of [
    'mm4.lisen: unknown key',
    'mm4.listen: must be host:port',
    'mm4.peers[0].smtp: is required',
    'mm4.peers[0].allow: must be a list',
    "mm4.peers[1].name: duplicate peer name 'a'",
    'sip.transport: must be one of udp, tcp',
    'sip.timers.t1: must be a duration',
    "cpm.users: 'abc' is not an E.164",
    'cpm.defaultCountry',
    'delivery.retry.maxAttempts: must be an integer from 1',
  ]) {
    t.true(msg.includes(key), `missing: ${key}\n${msg}`);
  }
});

test('--config names a file that must exist', (t) => {
  const err = t.throws(() => loadConfig(['--config', '/nonexistent/iwf.yaml'], {}), { instanceOf: ConfigError });
  t.regex(err.message, /\/nonexistent\/iwf.yaml: cannot be read/);
});

test('cpm.shortCodes maps codes and sender names to CPM URIs; bad entries are named', (t) => {
  const ok = buildConfig({
    cpm: { shortCodes: { '12345': 'sip:alerts@ims.example.net', Vodafone: 'tel:+491721234567' } },
  });
  t.deepEqual(ok.cpm.shortCodes, { '12345': 'sip:alerts@ims.example.net', vodafone: 'tel:+491721234567' });
  const e = t.throws(() =>
    buildConfig({ cpm: { shortCodes: { '12345': 'mailto:x@y', 'a very long name here': 'sip:x@y' } } }),
  );
  t.regex(e.message, /cpm\.shortCodes\.12345: 'mailto:x@y' is not a sip:, sips: or tel: URI/);
  t.regex(e.message, /cpm\.shortCodes\.a very long name here: must be a short code/);
});

test('a bad IP or CIDR in mm4.peers[].allow or sip.trusted is named at start, not thrown on the first connection', (t) => {
  const e = t.throws(() =>
    buildConfig({
      mm4: {
        peers: [
          {
            name: 'a',
            domains: ['mms.a.example'],
            smtp: '127.0.0.1:2526',
            allow: ['10.0.0.0/33', '127.0.0.1', 'nonsense'],
          },
        ],
      },
      sip: { trusted: ['::1/129', '192.168.0.0/16'] },
    }),
  );
  t.regex(e.message, /mm4\.peers\[0\]\.allow\[0\]: '10\.0\.0\.0\/33' is not an IP address or CIDR/);
  t.regex(e.message, /mm4\.peers\[0\]\.allow\[2\]: 'nonsense' is not an IP address or CIDR/);
  t.regex(e.message, /sip\.trusted\[0\]: '::1\/129' is not an IP address or CIDR/);
  t.notRegex(e.message, /allow\[1\]|trusted\[1\]/);
});
