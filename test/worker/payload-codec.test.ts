/**
 * The AES-256-GCM payload codec (worker/payload-codec.ts), its keys files and their validation in
 * the configuration (worker/config.ts).
 */
import test from 'ava';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { buildConfig, ConfigError, loadConfig } from '../../worker/config.js';
import {
  AesGcmPayloadCodec,
  decodePayload,
  encodePayload,
  ENCRYPTED_ENCODING,
  ensureGeneratedKeys,
  KEY_ID_METADATA,
  parseKeysFile,
} from '../../worker/payload-codec.js';

const dec = new TextDecoder();
const keyA = randomBytes(32);
const keyB = randomBytes(32);
const codecA = new AesGcmPayloadCodec({ keyId: 'a', keys: new Map([['a', keyA]]) });
const input = defaultPayloadConverter.toPayload({ to: ['+12025550123/TYPE=PLMN@mms.example'], text: 'hello' });

test('a payload is encrypted with the key id in its metadata and decrypts to the same payload', async (t) => {
  const [e] = await codecA.encode([input]);
  t.is(dec.decode(e.metadata!.encoding), ENCRYPTED_ENCODING);
  t.is(dec.decode(e.metadata![KEY_ID_METADATA]), 'a');
  t.false(Buffer.from(e.data!).toString('latin1').includes('2025550123'));
  t.is(e.data!.length, 12 + encodePayload(input).length + 16, 'IV || ciphertext || tag');
  const [d] = await codecA.decode([e]);
  t.deepEqual(defaultPayloadConverter.fromPayload(d), defaultPayloadConverter.fromPayload(input));
});

test('each payload gets its own random IV', async (t) => {
  const [x, y] = await codecA.encode([input, input]);
  t.notDeepEqual(Buffer.from(x.data!).subarray(0, 12), Buffer.from(y.data!).subarray(0, 12));
  t.notDeepEqual(Buffer.from(x.data!), Buffer.from(y.data!));
});

test('payloads without the encrypted encoding pass through decoding unchanged (histories from before)', async (t) => {
  const [d] = await codecA.decode([input]);
  t.is(d, input);
  const bare: Payload = { data: new Uint8Array([1, 2, 3]) };
  t.is((await codecA.decode([bare]))[0], bare);
});

test('a tampered payload, an unknown key or a wrong key is refused, not decoded into garbage', async (t) => {
  const [e] = await codecA.encode([input]);
  const flipped = Buffer.from(e.data!);
  flipped[20] ^= 1;
  await t.throwsAsync(codecA.decode([{ ...e, data: flipped }]));
  const codecB = new AesGcmPayloadCodec({ keyId: 'b', keys: new Map([['b', keyB]]) });
  await t.throwsAsync(codecB.decode([e]), { message: /key 'a', which is not among the configured keys/ });
  // Same id, other key material: GCM's tag does not verify.
  const impostor = new AesGcmPayloadCodec({ keyId: 'a', keys: new Map([['a', keyB]]) });
  await t.throwsAsync(impostor.decode([e]));
  // Key id swapped in the metadata: it is authenticated data.
  const both = new AesGcmPayloadCodec({
    keyId: 'b',
    keys: new Map([
      ['a', keyA],
      ['b', keyA],
    ]),
  });
  await t.throwsAsync(both.decode([{ ...e, metadata: { ...e.metadata, [KEY_ID_METADATA]: Buffer.from('b') } }]));
  await t.throwsAsync(codecA.decode([{ ...e, data: new Uint8Array(10) }]), { message: /too short/ });
});

test('rotation: the new key encrypts, the old one still decrypts what it wrote', async (t) => {
  const [old] = await codecA.encode([input]);
  const rotated = new AesGcmPayloadCodec({
    keyId: 'b',
    keys: new Map([
      ['a', keyA],
      ['b', keyB],
    ]),
  });
  const [fresh] = await rotated.encode([input]);
  t.is(dec.decode(fresh.metadata![KEY_ID_METADATA]), 'b');
  t.deepEqual(await rotated.decode([old]), [decodePayload(encodePayload(input))]);
  t.deepEqual(await rotated.decode([fresh]), [decodePayload(encodePayload(input))]);
});

test('property: the inner Payload wire form is temporal.api.common.v1.Payload, both ways', (t) => {
  const payload = fc.record({
    metadata: fc.dictionary(fc.string({ minLength: 1 }), fc.uint8Array({ maxLength: 40 })),
    data: fc.uint8Array({ maxLength: 300 }),
  });
  fc.assert(
    fc.property(payload, (p) => {
      const ours = encodePayload(p);
      const theirs = temporal.api.common.v1.Payload.decode(ours);
      const back = decodePayload(Buffer.from(temporal.api.common.v1.Payload.encode(p).finish()));
      const same = (a: Payload, b: Payload) =>
        Buffer.from(a.data ?? []).equals(Buffer.from(b.data ?? [])) &&
        JSON.stringify(Object.keys(a.metadata ?? {}).sort()) === JSON.stringify(Object.keys(b.metadata ?? {}).sort()) &&
        Object.entries(a.metadata ?? {}).every(([k, v]) => Buffer.from(v).equals(Buffer.from(b.metadata![k])));
      return same(theirs, p) && same(back, p);
    }),
  );
  t.pass();
});

test('keys files: a map of id -> base64 of 32 bytes, anything else named', (t) => {
  const good = parseKeysFile(`k1: ${keyA.toString('base64')}\nk2: ${keyB.toString('base64')}\n`);
  t.true(good instanceof Map && good.size === 2);
  t.regex(parseKeysFile(JSON.stringify({ k: randomBytes(16).toString('base64') })) as string, /32 bytes/);
  t.regex(parseKeysFile(JSON.stringify({ k: 'not base64!' })) as string, /base64/);
  t.regex(parseKeysFile('[1, 2]') as string, /mapping/);
  t.regex(parseKeysFile('{}') as string, /no key/);
  t.regex(parseKeysFile('{ "bad id": "x" }') as string, /key id/);
});

const dir = () => mkdtempSync(join(tmpdir(), 'iwf-codec-test-'));

test('the embedded server key is generated once, mode 0600, and never overwritten', (t) => {
  const file = join(dir(), 'payload-keys.json');
  const first = ensureGeneratedKeys(file, new Date('2026-12-01T00:00:00Z'));
  t.true(first.created);
  t.is(first.keys.keyId, 'k20261201');
  t.is(statSync(file).mode & 0o777, 0o600);
  const text = readFileSync(file, 'utf8');
  const again = ensureGeneratedKeys(file);
  t.false(again.created);
  t.is(readFileSync(file, 'utf8'), text);
  t.deepEqual(again.keys.keys.get('k20261201'), first.keys.keys.get('k20261201'));
});

function configError(tree: Record<string, unknown>, baseDir?: string): string {
  const e = (() => {
    try {
      buildConfig(tree, {}, baseDir);
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  if (!(e instanceof ConfigError)) throw new Error('no ConfigError');
  return e.message;
}

test('temporal.encryption: a bad keysFile or keyId is a ConfigError naming the key', (t) => {
  const d = dir();
  t.regex(
    configError({ temporal: { encryption: { keysFile: 'missing.json' } } }, d),
    /temporal\.encryption\.keysFile: .*cannot be read/,
  );
  writeFileSync(join(d, 'short.json'), JSON.stringify({ a: randomBytes(31).toString('base64') }));
  t.regex(
    configError({ temporal: { encryption: { keysFile: 'short.json' } } }, d),
    /temporal\.encryption\.keysFile: .*32 bytes/,
  );
  writeFileSync(join(d, 'two.yaml'), `a: ${keyA.toString('base64')}\nb: ${keyB.toString('base64')}\n`);
  t.regex(
    configError({ temporal: { encryption: { keysFile: 'two.yaml', keyId: 'c' } } }, d),
    /temporal\.encryption\.keyId: .*no key 'c'/,
  );
  t.regex(configError({ temporal: { encryption: { keysFile: 'two.yaml' } } }, d), /keyId must say which one/);
  t.regex(configError({ temporal: { encryption: { enabled: 'maybe' } } }, d), /temporal\.encryption\.enabled/);
  t.regex(configError({ temporal: { encryption: { key: 'x' } } }, d), /temporal\.encryption\.key/);
  t.regex(
    configError({ temporal: { codec: { corsOrigins: ['not an origin'] } } }, d),
    /temporal\.codec\.corsOrigins\[0\]/,
  );
});

test('temporal.encryption: keysFile relative to the config file; enabled: false; embedded default', (t) => {
  const d = dir();
  writeFileSync(join(d, 'keys.json'), JSON.stringify({ a: keyA.toString('base64'), b: keyB.toString('base64') }));
  writeFileSync(
    join(d, 'iwf.yaml'),
    'temporal:\n  address: 10.0.0.1:7233\n  encryption: { keyId: b, keysFile: keys.json }\n',
  );
  const c = loadConfig(['--config', join(d, 'iwf.yaml')], {});
  t.is(c.temporal.encryption.keys?.keyId, 'b');
  t.is(c.temporal.encryption.keys?.keys.size, 2);
  t.false(c.temporal.encryption.generate);
  t.false(buildConfig({ temporal: { encryption: { enabled: false } } }).temporal.encryption.enabled);
  const embedded = buildConfig({ dataDir: d }).temporal.encryption;
  t.like(embedded, { enabled: true, generate: true, keysFile: join(d, 'payload-keys.json'), keys: undefined });
  t.is(buildConfig({}).temporal.codec.listen, undefined, 'chosen at start: 127.0.0.1:8234 with the embedded UI');
  t.deepEqual(buildConfig({ temporal: { codec: { listen: '127.0.0.1:9000' } } }).temporal.codec.listen, {
    host: '127.0.0.1',
    port: 9000,
  });
});
