import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
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
  proxyTransport?: 'udp' | 'tcp';
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
}

/** The test configuration: everything on loopback, ephemeral ports, fast SIP timers. */
export function testConfigTree(o: TestIwfOptions): Record<string, unknown> {
  return {
    log: { level: process.env.IWF_TEST_LOG ?? 'silent' },
    temporal: { address: o.temporalAddress, taskQueue: `iwf-test-${randomUUID()}` },
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
        },
        ...(o.extraPeers ?? []),
      ],
    },
    sip: {
      listen: o.sipListen ?? '127.0.0.1:0',
      domain: 'ims.iwf.example.net',
      outboundProxy: `${o.outboundProxyHost ?? '127.0.0.1'}:${o.outboundProxyPort}`,
      transport: o.proxyTransport ?? 'udp',
      trusted: o.trusted ?? ['127.0.0.1'],
      timers: { t1: '100ms', t2: '400ms' },
    },
    cpm: { users: o.users ?? ['+1202555*'], defaultCountry: 'US' },
    // The test content servers are on loopback, ephemeral ports: named, as production would name its own.
    media: { listen: '127.0.0.1:0', dir: mkdtempSync(join(tmpdir(), 'iwf-media-')), fetchHosts: ['127.0.0.0/8:*'] },
    audit: { file: join(mkdtempSync(join(tmpdir(), 'iwf-audit-')), 'audit.jsonl') },
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
  const config = buildConfig(testConfigTree(o), {});
  const iwf = await startIwf(config, createLogger(config.log.level), { workflowBundle: await workflowBundle() });
  return { ...iwf, config };
}
