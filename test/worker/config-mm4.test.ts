/** Per-peer MM4 profiles and rules (`mm4.peers[].profile`, `mm4.peers[].mm4`), resolved at start. */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { buildConfig, ConfigError } from '../../worker/config.js';
import type { Obj } from '../../worker/config-schema.js';
import { MM4_PROFILE_RULES, mm4RulesOf, STANDARD_MM4_RULES } from '../../model/peer.js';

const peer = (o: Obj = {}) => ({ name: 'p', domains: ['mms.mnc001.mcc001.gprs'], smtp: '127.0.0.1:2526', ...o });
const peers = (...ps: Obj[]) => buildConfig({ mm4: { peers: ps } }).mm4.peers;
const problems = (tree: Obj) => {
  const err = (() => {
    try {
      buildConfig(tree);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  if (!(err instanceof ConfigError)) throw new Error('expected a ConfigError');
  return err.problems;
};

test('a peer without profile gets the standard rules, fully resolved', (t) => {
  const [p] = peers(peer());
  t.deepEqual(p.mm4, {
    profile: 'standard',
    statusHeaders: 'standard',
    reportAck: 'request',
    multipart: 'auto',
    binaryEncoding: 'base64',
    quoteIds: true,
  });
  t.deepEqual(mm4RulesOf(p), p.mm4);
  t.deepEqual(mm4RulesOf({}), STANDARD_MM4_RULES, 'a hand-built peer');
});

test('lenient takes the tolerant side of every rule; mm4 overrides single rules', (t) => {
  const [lenient, mixed] = peers(
    peer({ name: 'l', profile: 'lenient' }),
    peer({
      name: 'm',
      profile: 'lenient',
      mm4: { reportAck: 'request', quoteIds: true, systemAddress: 'mm4@mmsc.vc.test', binaryEncoding: '8bit' },
    }),
  );
  t.deepEqual(lenient.mm4, { profile: 'lenient', ...MM4_PROFILE_RULES.lenient });
  t.like(lenient.mm4, { statusHeaders: 'both', reportAck: 'none', multipart: 'always', quoteIds: false });
  t.deepEqual(mixed.mm4, {
    profile: 'lenient',
    systemAddress: 'mm4@mmsc.vc.test',
    statusHeaders: 'both',
    reportAck: 'request',
    multipart: 'always',
    binaryEncoding: '8bit',
    quoteIds: true,
  });
  const [std] = peers(
    peer({ mm4: { statusHeaders: 'both', multipart: 'always', binaryEncoding: 'quoted-printable' } }),
  );
  t.like(std.mm4, {
    profile: 'standard',
    statusHeaders: 'both',
    multipart: 'always',
    binaryEncoding: 'quoted-printable',
  });
});

test('bad rules, unknown rule keys and unknown peer keys are named', (t) => {
  const p = problems({
    mm4: {
      peers: [
        peer({
          profile: 'loose',
          contentClas: 'megapixel',
          mm4: {
            statusHeaders: 'all',
            reportAck: 'never',
            multipart: 'sometimes',
            binaryEncoding: 'binary',
            quoteIds: 'maybe',
            systemAddress: 'system=mmsc.vc.test;party=+12025550100',
            ackReport: 'none',
          },
        }),
        peer({ name: 'q', mm4: 'lenient', domains: ['bad domain'] }),
      ],
    },
  }).join('\n');
  for (const key of [
    'mm4.peers[0].profile: must be one of standard, lenient',
    'mm4.peers[0].contentClas: unknown key',
    'mm4.peers[0].mm4.statusHeaders: must be one of standard, both',
    'mm4.peers[0].mm4.reportAck: must be one of request, none',
    'mm4.peers[0].mm4.multipart: must be one of auto, always',
    'mm4.peers[0].mm4.binaryEncoding: must be one of base64, quoted-printable, 8bit',
    'mm4.peers[0].mm4.quoteIds: must be true or false',
    "mm4.peers[0].mm4.systemAddress: 'system=mmsc.vc.test;party=+12025550100' is not a mailbox",
    'mm4.peers[0].mm4.ackReport: unknown key',
    'mm4.peers[1].mm4: must be a mapping of MM4 rules',
    "mm4.peers[1].domains: 'bad domain' is not a domain",
  ])
    t.true(p.includes(key), `missing: ${key}\n${p}`);
});

test('mm4.systemAddress must be a mailbox (MAIL FROM of everything we send)', (t) => {
  t.true(problems({ mm4: { systemAddress: 'mm4-system' } }).some((m) => m.startsWith('mm4.systemAddress:')));
});

test('the example configuration documents every rule and they validate', (t) => {
  const text = readFileSync(new URL('../../iwf.example.yaml', import.meta.url), 'utf8');
  for (const key of [
    'profile:',
    'systemAddress:',
    'statusHeaders:',
    'reportAck:',
    'multipart:',
    'binaryEncoding:',
    'quoteIds:',
  ])
    t.true(text.includes(key), key);
  // The commented-out peer block, uncommented, is a valid configuration.
  const uncommented = text.replace(
    /^(\s*)# (\s*(?:mm4|systemAddress|statusHeaders|reportAck|multipart|binaryEncoding|quoteIds):)/gm,
    '$1$2',
  );
  t.regex(uncommented, /^ {8}quoteIds: true/m);
  const c = buildConfig(parse(uncommented) as Obj, {});
  t.deepEqual(c.mm4.peers[0].mm4, {
    profile: 'standard',
    systemAddress: 'mm4-system@mms.mnc001.mcc001.gprs',
    ...MM4_PROFILE_RULES.standard,
  });
});
