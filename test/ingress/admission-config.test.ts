import test from 'ava';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { buildConfig, ConfigError } from '../../worker/config.js';
import type { Obj } from '../../worker/config-schema.js';

const peer = (extra: Obj = {}) => ({
  name: 'a',
  domains: ['mms.a.example'],
  smtp: '127.0.0.1:2526',
  allow: ['127.0.0.1'],
  ...extra,
});

test('push-back defaults: 200 in flight, Retry-After 30, 10 connections a peer, 100 in all, 64 SIP per source', (t) => {
  const c = buildConfig({ mm4: { peers: [peer()] } }, {});
  t.deepEqual(c.ingress, { maxInFlight: 200, retryAfterSeconds: 30 });
  t.is(c.mm4.maxConnections, 100);
  t.is(c.mm4.peers[0].maxConnections, 20);
  t.is(c.mm4.peers[0].maxPerSecond, undefined, 'outbound MM4 is unpaced unless configured');
  t.is(c.sip.maxTcpConnectionsPerSource, 64);
});

test('push-back keys are read as written', (t) => {
  const c = buildConfig(
    {
      ingress: { maxInFlight: 0, retryAfter: '2m' },
      mm4: { maxConnections: 7, peers: [peer({ maxConnections: 3, maxPerSecond: 2.5 })] },
      sip: { maxTcpConnectionsPerSource: 4 },
    },
    {},
  );
  t.deepEqual(c.ingress, { maxInFlight: 0, retryAfterSeconds: 120 });
  t.is(c.mm4.maxConnections, 7);
  t.like(c.mm4.peers[0], { maxConnections: 3, maxPerSecond: 2.5 });
  t.is(c.sip.maxTcpConnectionsPerSource, 4);
});

test('bad push-back values are each named', (t) => {
  const e = t.throws(
    () =>
      buildConfig(
        {
          ingress: { maxInFlight: -1, retryAfter: '200ms', maxInflight: 3 },
          mm4: { maxConnections: 0, peers: [peer({ maxConnections: 'many', maxPerSecond: 0 })] },
          sip: { maxTcpConnectionsPerSource: 0 },
        },
        {},
      ),
    { instanceOf: ConfigError },
  );
  const problems = e.problems.join('\n');
  for (const key of [
    'ingress.maxInFlight',
    'ingress.retryAfter',
    'ingress.maxInflight: unknown key',
    'mm4.maxConnections',
    'mm4.peers[0].maxConnections',
    'mm4.peers[0].maxPerSecond',
    'sip.maxTcpConnectionsPerSource',
  ])
    t.true(problems.includes(key), `${key} in:\n${problems}`);
});

test('iwf.example.yaml documents the push-back keys with their defaults', (t) => {
  const text = readFileSync(new URL('../../iwf.example.yaml', import.meta.url), 'utf8');
  const tree = parse(text) as Obj;
  t.like(tree, { ingress: { maxInFlight: 200, retryAfter: '30s' }, mm4: { maxConnections: 100 } });
  t.like(tree.sip ?? {}, { maxTcpConnectionsPerSource: 64 });
  t.like(((tree.mm4 as Obj).peers as Obj[])[0], { maxConnections: 20 });
  t.regex(text, /# maxPerSecond: /, 'the outbound rate is shown (commented: unlimited by default)');
  const c = buildConfig(tree, {});
  t.deepEqual(c.ingress, { maxInFlight: 200, retryAfterSeconds: 30 });
  t.is(c.mm4.maxConnections, 100);
  t.is(c.sip.maxTcpConnectionsPerSource, 64);
  t.is(c.mm4.peers[0].maxConnections, 20);
});
