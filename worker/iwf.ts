import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection, Runtime, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { staticCpmDirectory } from '../clients/cpm-directory.js';
import { createSipEndpoint } from '../clients/sip/endpoint.js';
import { auditStoreFor } from '../clients/audit-store.js';
import { filesystemMediaStore } from '../clients/media-store.js';
import { createSmtpClient } from '../clients/smtp.js';
import { temporalDispatcher } from '../ingress/dispatch.js';
import { createMediaServer } from '../ingress/media-server.js';
import { createMm4Server } from '../ingress/mm4-server.js';
import { attachSipIngress } from '../ingress/sip-server.js';
import { SEARCH_ATTRIBUTES } from '../workflows/messages.js';
import type { Config } from './config.js';
import { startDevServer, type DevServer } from './dev-server.js';
import { ensureMediaJanitorSchedule } from './schedules.js';
import { temporalLogger, type Logger } from './logger.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface RunningIwf {
  temporalAddress: string;
  uiUrl?: string;
  mm4: { host: string; port: number };
  sip: { host: string; port: number };
  media: { host: string; port: number };
  client: Client;
  stop(): Promise<void>;
}

let runtimeInstalled = false;

/** Where Temporal is: config, then an envconfig profile / TEMPORAL_* variables, else embedded. */
async function resolveTemporal(config: Config, log: Logger, onTemporalLost?: (reason: string) => void) {
  const profile = loadClientConnectConfig({ profile: config.temporal.profile });
  const address = config.temporal.address ?? profile.connectionOptions.address;
  if (address) return { address, tls: profile.connectionOptions.tls, apiKey: profile.connectionOptions.apiKey };
  const e = config.temporal.embedded;
  const server = await startDevServer({
    port: e.port,
    uiPort: e.ui ? e.uiPort : undefined,
    dbFile: e.dbFile,
    namespace: config.temporal.namespace,
    log,
    // Restarted with backoff if it exits; deliveries wait in Temporal's database meanwhile, and the
    // front-ends answer 451/503 while it is away. If it keeps failing, the process owner decides.
    supervise: {
      onGiveUp: (reason) => {
        log.error({ reason }, 'embedded Temporal dev server keeps failing');
        onTemporalLost?.(reason);
      },
    },
  });
  return { address: server.address, server };
}

/** Registers our search attributes on an external cluster; the embedded server gets them as flags. */
async function registerSearchAttributes(conn: Connection, namespace: string, log: Logger) {
  const types = { Keyword: 2 } as const;
  try {
    await conn.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([k, t]) => [k, types[t]])),
    });
  } catch (e) {
    const msg = (e as Error).message;
    if (!/already exist/i.test(msg))
      log.warn(
        { error: msg },
        'could not register search attributes; register them with `temporal operator search-attribute create`',
      );
  }
}

/**
 * Starts the whole IWF in this process: (embedded Temporal), the worker with its activities, the
 * SIP endpoint and the MM4 front-end. `stop()` undoes it in reverse order: stop taking traffic,
 * drain the worker, close sockets, stop the server.
 */
export async function startIwf(
  config: Config,
  log: Logger,
  opts: {
    workflowBundle?: WorkflowBundleOption;
    /** Called when the embedded Temporal server cannot be kept running (main.ts exits 70). */
    onTemporalLost?: (reason: string) => void;
  } = {},
): Promise<RunningIwf> {
  if (!runtimeInstalled) {
    try {
      Runtime.install({ logger: temporalLogger(log.child({ src: 'temporal' })) });
    } catch {
      // Already installed by an earlier instance in this process (tests): keep that one.
    }
    runtimeInstalled = true;
  }
  const temporal = await resolveTemporal(config, log, opts.onTemporalLost);
  const server: DevServer | undefined = temporal.server;
  const connOpts = { address: temporal.address, tls: temporal.tls, apiKey: temporal.apiKey };
  const connection = await Connection.connect(connOpts);
  if (!server) await registerSearchAttributes(connection, config.temporal.namespace, log);
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const nativeConnection = await NativeConnection.connect(connOpts);

  const endpoint = await createSipEndpoint({
    host: config.sip.listen.host,
    port: config.sip.listen.port,
    timers: config.sip.timers,
    sourceAddress: config.sip.sourceAddress,
    pathMtu: config.sip.pathMtu,
    log: log.child({ src: 'sip' }),
  });
  const smtp = createSmtpClient({ heloName: config.mm4.domain });
  const directory = staticCpmDirectory(config.cpm.users);
  const media = filesystemMediaStore(config.media.dir);
  const audit = auditStoreFor(config.audit, log.child({ src: 'audit' }));
  // Before the worker: activities put this server's URL into file-transfer descriptors.
  const mediaServer = createMediaServer({
    store: media,
    listen: config.media.listen,
    log: log.child({ src: 'media' }),
  });
  const mediaAddr = await mediaServer.listen();
  // Without media.publicUrl the bound address is the URL (the port may have been 0).
  const mediaPublicUrl = config.media.publicUrl ?? `http://${mediaAddr.host}:${mediaAddr.port}`;
  const dispatcher = temporalDispatcher(client, config.temporal.taskQueue);

  const activities = createActivities({
    directory,
    defaultCountry: config.cpm.defaultCountry,
    sipDomain: config.sip.domain,
    uriForm: config.cpm.uriForm,
    shortCodes: config.cpm.shortCodes,
    endpoint,
    domain: config.sip.domain,
    outboundProxy: config.sip.outboundProxy,
    transport: config.sip.transport,
    smtp,
    mm4: config.mm4,
    isf: config.isf,
    media,
    mediaTtlMs: config.media.ttlMs,
    mediaPublicUrl: () => mediaPublicUrl,
    maxFileBytes: config.isf.maxFileBytes,
    fetchHosts: config.media.fetchHosts,
    audit,
  });
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities,
    maxCachedWorkflows: 1000,
  });
  const running = worker.run().catch((e: Error) => log.error({ error: e.message }, 'worker stopped with an error'));

  const mm4 = createMm4Server({
    listen: config.mm4.listen,
    domain: config.mm4.domain,
    maxMessageBytes: config.mm4.maxMessageBytes,
    peers: config.mm4.peers,
    retry: config.delivery.retry,
    mm4Ack: config.delivery.mm4Ack,
    defaultExpiryMs: config.delivery.defaultExpiryMs,
    maxExpiryMs: config.delivery.maxExpiryMs,
    dispatcher,
    media,
    mediaTtlMs: config.media.ttlMs,
    replies: { smtp, systemAddress: config.mm4.systemAddress, domain: config.mm4.domain },
    log: log.child({ src: 'mm4-ingress' }),
  });
  // Inbound SIP only once the worker runs, so an accepted MESSAGE is processed at once.
  attachSipIngress(endpoint, {
    trusted: config.sip.trusted,
    directory,
    isf: config.isf,
    dispatcher,
    mm4Ack: config.delivery.mm4Ack,
    reportWaitMs: config.delivery.defaultExpiryMs,
    log: log.child({ src: 'sip-ingress' }),
  });
  const mm4Addr = await mm4.listen();
  const janitor = await ensureMediaJanitorSchedule(client, config.temporal.taskQueue, config.media.purgeIntervalMs);
  log.info(
    {
      mm4: mm4Addr,
      sip: { host: endpoint.host, port: endpoint.port },
      media: mediaAddr,
      janitor,
      temporal: temporal.address,
      ui: server?.uiUrl,
    },
    'IWF running',
  );

  let stopped: Promise<void> | undefined;
  return {
    temporalAddress: temporal.address,
    uiUrl: server?.uiUrl,
    mm4: mm4Addr,
    sip: { host: endpoint.host, port: endpoint.port },
    media: mediaAddr,
    client,
    stop() {
      stopped ??= (async () => {
        await mm4.close();
        await mediaServer.close();
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
        await endpoint.close();
        smtp.close();
        await audit.close?.();
        await nativeConnection.close();
        await connection.close();
        await server?.stop();
        log.info({}, 'IWF stopped');
      })();
      return stopped;
    },
  };
}
