/**
 * The connection settings the IWF and the `iwf` CLI share (worker/temporal-connection.ts): the
 * config's address, an envconfig profile from its TOML file, TEMPORAL_* variables with TLS, API
 * key and gRPC metadata, and the embedded server's address when no cluster is named.
 */
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig } from '../../worker/config.js';
import { ConfigError } from '../../worker/config-schema.js';
import {
  embeddedTemporalAddress,
  externalTemporal,
  temporalConnectionOptions,
} from '../../worker/temporal-connection.js';

const cfg = (temporal: Record<string, unknown> = {}) =>
  buildConfig({ temporal: { encryption: { enabled: false }, ...temporal } }, {});

test('no cluster named: the embedded server, at its configured ip and port', (t) => {
  const config = cfg({ embedded: { ip: '0.0.0.0', port: 17233 } });
  t.is(externalTemporal(config, {}), undefined);
  t.is(embeddedTemporalAddress(config), '127.0.0.1:17233', 'a wildcard bind is reached on loopback');
  t.deepEqual(temporalConnectionOptions(config, {}), { address: '127.0.0.1:17233' });
  t.is(embeddedTemporalAddress(cfg({ embedded: { ip: '127.0.0.5' } })), '127.0.0.5:7233');
});

test('TEMPORAL_* variables: address, API key (which implies TLS) and gRPC metadata', (t) => {
  const env = { TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k-1', TEMPORAL_GRPC_META_X_ID: 'a' };
  t.deepEqual(externalTemporal(cfg(), env), {
    address: 'ns.acct.tmprl.cloud:7233',
    apiKey: 'k-1',
    tls: true,
    metadata: { 'x-id': 'a' },
  });
  // temporal.address wins over the profile's address; TLS and the key still come from the profile.
  t.like(externalTemporal(cfg({ address: 'other:7233' }), env), { address: 'other:7233', apiKey: 'k-1', tls: true });
});

test('a named profile from the TOML file, with its CA; a profile that is not there is a ConfigError', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iwf-envconfig-'));
  const file = join(dir, 'temporal.toml');
  writeFileSync(
    file,
    [
      '[profile.prod]',
      'address = "temporal.prod.example.net:7233"',
      'namespace = "iwf"',
      '[profile.prod.tls]',
      'server_name = "temporal.prod.example.net"',
      'server_ca_cert_data = "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"',
      '',
    ].join('\n'),
  );
  const prod = externalTemporal(cfg({ profile: 'prod' }), { TEMPORAL_CONFIG_FILE: file });
  t.is(prod?.address, 'temporal.prod.example.net:7233');
  const tls = prod?.tls as { serverNameOverride?: string; serverRootCACertificate?: Uint8Array };
  t.is(tls.serverNameOverride, 'temporal.prod.example.net');
  t.regex(Buffer.from(tls.serverRootCACertificate ?? []).toString(), /BEGIN CERTIFICATE/);
  t.is(prod?.apiKey, undefined);

  const e = t.throws(() => externalTemporal(cfg({ profile: 'staging' }), { TEMPORAL_CONFIG_FILE: file }));
  t.true(e instanceof ConfigError);
  t.regex(e.message, /temporal\.profile: .*staging/);
});
