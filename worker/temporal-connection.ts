/**
 * Where the Temporal cluster is and how to reach it: one answer for the IWF (worker/iwf.ts) and the
 * operator command line (cli/main.ts), so a cluster the IWF can reach (TLS, mTLS, API key, gRPC
 * metadata from an envconfig profile) is one the CLI can reach too.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { Config } from './config.js';
import { ConfigError } from './config-schema.js';
import { reachableAt } from './dev-server.js';

/** What both `Connection.connect` and `NativeConnection.connect` take for an external cluster. */
export type TemporalConnectionOptions = Pick<
  ReturnType<typeof loadClientConnectConfig>['connectionOptions'],
  'tls' | 'apiKey' | 'metadata'
> & { address: string };

/**
 * The external cluster: `temporal.address` (or TEMPORAL_ADDRESS), else the address of the
 * `@temporalio/envconfig` profile `temporal.profile` (its TOML file and TEMPORAL_* variables);
 * TLS, API key and gRPC metadata come from that profile either way. `undefined`: no cluster is
 * named, the IWF runs the embedded dev server.
 */
export function externalTemporal(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): TemporalConnectionOptions | undefined {
  let profile: ReturnType<typeof loadClientConnectConfig>;
  try {
    profile = loadClientConnectConfig({
      ...(config.temporal.profile ? { profile: config.temporal.profile } : {}),
      overrideEnvVars: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
    });
  } catch (e) {
    throw new ConfigError([`temporal.profile: the envconfig profile cannot be loaded (${(e as Error).message})`]);
  }
  const c = profile.connectionOptions;
  const address = config.temporal.address ?? c.address;
  if (!address) return undefined;
  return {
    address,
    ...(c.tls !== undefined ? { tls: c.tls } : {}),
    ...(c.apiKey !== undefined ? { apiKey: c.apiKey } : {}),
    ...(c.metadata ? { metadata: c.metadata } : {}),
  };
}

/** The embedded dev server's frontend as a client on this host reaches it (temporal.embedded.ip, .port). */
export function embeddedTemporalAddress(config: Config): string {
  return reachableAt(config.temporal.embedded.ip, config.temporal.embedded.port);
}

/** Connection options for a client of the IWF's cluster: the external one, else the embedded server. */
export function temporalConnectionOptions(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): TemporalConnectionOptions {
  return externalTemporal(config, env) ?? { address: embeddedTemporalAddress(config) };
}
