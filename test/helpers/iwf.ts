import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { buildConfig, type Config } from '../../worker/config.js';
import { startDevServer, type DevServer } from '../../worker/dev-server.js';
import { startIwf, WORKFLOWS_PATH, type RunningIwf } from '../../worker/iwf.js';
import { createLogger } from '../../worker/logger.js';
import { freePort } from './ports.js';

/** One in-memory dev server per test file (ava runs files in separate processes). */
export async function startTestTemporal(): Promise<DevServer> {
  return startDevServer({ port: freePort, namespace: 'default' });
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflow bundle, built once per test process (docs/temporal-notes.md). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
  });
  return bundle;
}

export interface TestIwfOptions {
  temporalAddress: string;
  mmscPort: number;
  outboundProxyPort: number;
  proxyTransport?: 'udp' | 'tcp' | 'tls';
  users?: string[];
  retry?: { maxAttempts?: number; initialInterval?: string };
  allow?: string[];
  mm4Ack?: { timeout: string; maxAttempts: number };
  /** OMA content class of the test MMSC peer (default megapixel). */
  contentClass?: string;
  /** SIP listen address (default 127.0.0.1:0). */
  sipListen?: string;
  /** Host of the outbound proxy (default 127.0.0.1). */
  outboundProxyHost?: string;
  /** SIP addresses trusted as the IMS core (default ['127.0.0.1']). */
  trusted?: string[];
  /** MM4 dialect of the test MMSC peer `operator-a`: `mm4.peers[].profile` (default standard). */
  profile?: 'standard' | 'lenient';
  /** Single MM4 rules of `operator-a` over its profile: `mm4.peers[].mm4` (e.g. `{ systemAddress }`). */
  mm4?: Record<string, unknown>;
  /** More `mm4.peers[]` entries after `operator-a`, as in the config file. */
  extraPeers?: Record<string, unknown>[];
  /** More keys of `operator-a` (e.g. `tls`, `ca`), as in the config file. */
  peerKeys?: Record<string, unknown>;
  /** More keys of the `mm4` section (e.g. `tls: { cert, key }`). */
  mm4Keys?: Record<string, unknown>;
  /** More keys of the `sip` section (e.g. `tlsListen`, `tls`). */
  sipKeys?: Record<string, unknown>;
  /** Last changes to the config tree before it is validated (sections no other option sets, e.g. `ingress`). */
  configure?: (tree: Record<string, unknown>) => void;
  /**
   * `temporal.encryption`; default `{ enabled: false }`: tests that read histories with a plain client,
   * replay them or record replay fixtures see payloads as JSON. test/e2e/privacy.test.ts runs the
   * IWF encrypted (testPayloadKeys()); IWF_TEST_ENCRYPTION=1 runs every startTestIwf encrypted.
   */
  encryption?: Record<string, unknown>;
  /**
   * The `metrics` section; default on an ephemeral loopback port (RunningIwf.metrics says which), so
   * test files running at once never meet on 9464.
   */
  metrics?: Record<string, unknown>;
}

let shared: { keyId: string; keysFile: string } | undefined;
/**
 * IWF_TEST_ENCRYPTION=1: one test key for the process, also named in IWF_ENCRYPTION_KEYS_FILE so
 * the operator CLI run by the test (runCli, which reads only the environment) decrypts too.
 */
function sharedKeys(): { encryption?: { keyId: string; keysFile: string } } {
  if (process.env.IWF_TEST_ENCRYPTION !== '1') return {};
  shared ??= testPayloadKeys();
  process.env.IWF_ENCRYPTION_KEYS_FILE = shared.keysFile;
  process.env.IWF_ENCRYPTION_KEY_ID = shared.keyId;
  return { encryption: shared };
}

/** A keys file with one fresh random key, as `temporal.encryption` names it. */
export function testPayloadKeys(ids: string[] = ['test-a']): { keyId: string; keysFile: string } {
  const keysFile = join(mkdtempSync(join(tmpdir(), 'iwf-keys-')), 'payload-keys.json');
  const keys = Object.fromEntries(ids.map((id) => [id, randomBytes(32).toString('base64')]));
  writeFileSync(keysFile, JSON.stringify(keys), { mode: 0o600 });
  return { keyId: ids[0], keysFile };
}

/** The test configuration: everything on loopback, ephemeral ports, fast SIP timers. */
export function testConfigTree(o: TestIwfOptions): Record<string, unknown> {
  return {
    log: { level: process.env.IWF_TEST_LOG ?? 'silent' },
    temporal: {
      address: o.temporalAddress,
      taskQueue: `iwf-test-${randomUUID()}`,
      encryption: o.encryption ?? { enabled: false },
      codec: { listen: '127.0.0.1:0' },
    },
    mm4: {
      listen: '127.0.0.1:0',
      domain: 'mms.iwf.example.net',
      peers: [
        {
          name: 'operator-a',
          domains: ['mms.mnc001.mcc001.gprs'],
          smtp: `127.0.0.1:${o.mmscPort}`,
          allow: o.allow ?? ['127.0.0.1'],
          numbers: ['+49'],
          ...(o.contentClass ? { contentClass: o.contentClass } : {}),
          ...(o.profile ? { profile: o.profile } : {}),
          ...(o.mm4 ? { mm4: o.mm4 } : {}),
          // The tests of one file run at once, each on its own SMTP connections: above the default 10.
          maxConnections: 100,
          ...o.peerKeys,
        },
        ...(o.extraPeers ?? []),
      ],
      ...o.mm4Keys,
    },
    sip: {
      listen: o.sipListen ?? '127.0.0.1:0',
      domain: 'ims.iwf.example.net',
      outboundProxy: `${o.outboundProxyHost ?? '127.0.0.1'}:${o.outboundProxyPort}`,
      transport: o.proxyTransport ?? 'udp',
      trusted: o.trusted ?? ['127.0.0.1'],
      timers: { t1: '100ms', t2: '400ms' },
      ...o.sipKeys,
    },
    cpm: { users: o.users ?? ['+1202555*'], defaultCountry: 'US' },
    // The test content servers are on loopback, ephemeral ports: named, as production would name its own.
    media: { listen: '127.0.0.1:0', dir: mkdtempSync(join(tmpdir(), 'iwf-media-')), fetchHosts: ['127.0.0.0/8:*'] },
    audit: { file: join(mkdtempSync(join(tmpdir(), 'iwf-audit-')), 'audit.jsonl') },
    metrics: o.metrics ?? { listen: '127.0.0.1:0' },
    delivery: {
      retry: {
        maxAttempts: o.retry?.maxAttempts ?? 3,
        initialInterval: o.retry?.initialInterval ?? '300ms',
        maxInterval: '2s',
      },
      mm4Ack: o.mm4Ack ?? { timeout: '3s', maxAttempts: 2 },
    },
  };
}

export async function startTestIwf(o: TestIwfOptions): Promise<RunningIwf & { config: Config }> {
  const tree = testConfigTree({ ...sharedKeys(), ...o });
  o.configure?.(tree);
  const config = buildConfig(tree, {});
  const iwf = await startIwf(config, createLogger(config.log.level), { workflowBundle: await workflowBundle() });
  return { ...iwf, config };
}
