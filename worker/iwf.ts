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
import { AdmissionGauge, temporalUnroutedCount } from '../ingress/admission.js';
import { temporalDispatcher } from '../ingress/dispatch.js';
import { createMediaServer } from '../ingress/media-server.js';
import { createMm4Server } from '../ingress/mm4-server.js';
import { attachSipIngress } from '../ingress/sip-server.js';
import { SEARCH_ATTRIBUTES } from '../workflows/messages.js';
import type { Config } from './config.js';
import { startDevServer, type DevServer } from './dev-server.js';
import { ensureMediaJanitorSchedule } from './schedules.js';
import { temporalLogger, type Logger } from './logger.js';
import { ConfigError } from './config-schema.js';
import { AesGcmPayloadCodec, ensureGeneratedKeys, type PayloadKeys } from './payload-codec.js';
import { createCodecServer } from '../ingress/codec-server.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface RunningIwf {
  temporalAddress: string;
  uiUrl?: string;
  mm4: { host: string; port: number };
  sip: { host: string; port: number };
  /** The SIP over TLS listener, when sip.tlsListen is set. */
  sipTls?: { host: string; port: number };
  media: { host: string; port: number };
  /** The remote codec endpoint (payload encryption on): POST /decode, /encode. */
  codec?: { host: string; port: number };
  client: Client;
  /** The ingress.maxInFlight gauge both front-ends admit new deliveries through. */
  admission: AdmissionGauge;
  stop(): Promise<void>;
}

let runtimeInstalled = false;

/** Where Temporal is: config, then an envconfig profile / TEMPORAL_* variables, else embedded. */
async function resolveTemporal(
  config: Config,
  log: Logger,
  onTemporalLost?: (reason: string) => void,
  /** Runs before the embedded server starts; answers the UI's codec endpoint URL. */
  beforeEmbedded?: () => Promise<string | undefined>,
) {
  const profile = loadClientConnectConfig({ profile: config.temporal.profile });
  const address = config.temporal.address ?? profile.connectionOptions.address;
  if (address) return { address, tls: profile.connectionOptions.tls, apiKey: profile.connectionOptions.apiKey };
  const e = config.temporal.embedded;
  const uiCodecEndpoint = await beforeEmbedded?.();
  const server = await startDevServer({
    port: e.port,
    uiCodecEndpoint,
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
  // Payload encryption (worker/payload-codec.ts) and the codec endpoint the embedded UI is started with.
  const enc = config.temporal.encryption;
  let keys: PayloadKeys | undefined = enc.keys;
  let codecServer: ReturnType<typeof createCodecServer> | undefined;
  let codecAddr: { host: string; port: number } | undefined;
  // Only where something will call it: the embedded UI, or a UI/CLI the operator pointed at `listen`.
  const startCodec = async (embedded: boolean) => {
    const e = config.temporal.embedded;
    const ui = embedded && e.ui;
    const listen = config.temporal.codec.listen ?? (ui ? { host: '127.0.0.1', port: 8234 } : undefined);
    if (!keys || !listen) return undefined;
    const uiOrigins = ui ? [`http://127.0.0.1:${e.uiPort}`, `http://localhost:${e.uiPort}`] : [];
    codecServer = createCodecServer({
      codec: new AesGcmPayloadCodec(keys),
      listen,
      corsOrigins: [...uiOrigins, ...config.temporal.codec.corsOrigins],
      token: config.temporal.codec.token,
      log: log.child({ src: 'codec' }),
    });
    codecAddr = await codecServer.listen();
    return `http://${codecAddr.host === '0.0.0.0' ? '127.0.0.1' : codecAddr.host}:${codecAddr.port}`;
  };
  const temporal = await resolveTemporal(config, log, opts.onTemporalLost, async () => {
    if (enc.enabled && !keys && enc.generate) {
      const made = ensureGeneratedKeys(enc.keysFile!);
      keys = made.keys;
      if (made.created)
        log.warn(
          { file: enc.keysFile, keyId: keys.keyId },
          'generated the payload encryption key for the embedded Temporal server; back it up: without it the histories cannot be read',
        );
    }
    return startCodec(true);
  }).catch(async (e: unknown) => {
    await codecServer?.close(); // the embedded server did not start: nothing may stay listening
    throw e;
  });
  if (!temporal.server) {
    // An external cluster needs keys every worker of it shares: never <dataDir>'s generated one.
    if (enc.enabled && (!keys || enc.generate))
      throw new ConfigError([
        'temporal.encryption: an external Temporal cluster needs keysFile (and keyId) for payload encryption, or enabled: false',
      ]);
    await startCodec(false);
  }
  // Every payload our client and worker send is encrypted; the codec runs outside the workflow sandbox.
  const dataConverter = keys ? { payloadCodecs: [new AesGcmPayloadCodec(keys)] } : undefined;
  const server: DevServer | undefined = temporal.server;
  const connOpts = { address: temporal.address, tls: temporal.tls, apiKey: temporal.apiKey };
  const connection = await Connection.connect(connOpts);
  if (!server) await registerSearchAttributes(connection, config.temporal.namespace, log);
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter });
  const nativeConnection = await NativeConnection.connect(connOpts);

  const endpoint = await createSipEndpoint({
    host: config.sip.listen.host,
    port: config.sip.listen.port,
    timers: config.sip.timers,
    sourceAddress: config.sip.sourceAddress,
    pathMtu: config.sip.pathMtu,
    maxConnectionsPerSource: config.sip.maxTcpConnectionsPerSource,
    // SIP over TLS (RFC 3261 26.2): a listener when sip.tlsListen is set, outgoing TLS when sip.transport is tls.
    ...(config.sip.tlsListen || config.sip.transport === 'tls'
      ? { tls: { ...config.sip.tls, ...(config.sip.tlsListen ? { listen: config.sip.tlsListen } : {}) } }
      : {}),
    log: log.child({ src: 'sip' }),
  });
  // STARTTLS toward each peer as its mm4.peers[].tls says (RFC 3207), looked up by its SMTP address.
  const smtp = createSmtpClient({
    heloName: config.mm4.domain,
    tls: (to) => config.mm4.peers.find((p) => p.smtp.host === to.host && p.smtp.port === to.port)?.tls,
  });
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
  // One gauge for both directions: the bound is on work accepted, whichever side it came from.
  const admission = new AdmissionGauge({
    maxInFlight: config.ingress.maxInFlight,
    count: temporalUnroutedCount(client, config.temporal.taskQueue),
    log: log.child({ src: 'admission' }),
  });
  admission.start();

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
    ...(dataConverter ? { dataConverter } : {}),
  });
  const running = worker.run().catch((e: Error) => log.error({ error: e.message }, 'worker stopped with an error'));

  const mm4 = createMm4Server({
    listen: config.mm4.listen,
    domain: config.mm4.domain,
    maxMessageBytes: config.mm4.maxMessageBytes,
    peers: config.mm4.peers,
    ...(config.mm4.tls ? { tls: config.mm4.tls } : {}),
    retry: config.delivery.retry,
    mm4Ack: config.delivery.mm4Ack,
    defaultExpiryMs: config.delivery.defaultExpiryMs,
    maxExpiryMs: config.delivery.maxExpiryMs,
    dispatcher,
    admission,
    maxConnections: config.mm4.maxConnections,
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
    admission,
    retryAfterSeconds: config.ingress.retryAfterSeconds,
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
      codec: codecAddr,
    },
    'IWF running',
  );

  let stopped: Promise<void> | undefined;
  return {
    temporalAddress: temporal.address,
    uiUrl: server?.uiUrl,
    mm4: mm4Addr,
    sip: { host: endpoint.host, port: endpoint.port },
    ...(config.sip.tlsListen ? { sipTls: { host: config.sip.tlsListen.host, port: endpoint.tlsPort } } : {}),
    media: mediaAddr,
    codec: codecAddr,
    client,
    admission,
    stop() {
      stopped ??= (async () => {
        await mm4.close();
        admission.stop();
        await mediaServer.close();
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
        await endpoint.close();
        smtp.close();
        await audit.close?.();
        await nativeConnection.close();
        await connection.close();
        await server?.stop();
        await codecServer?.close();
        log.info({}, 'IWF stopped');
      })();
      return stopped;
    },
  };
}
