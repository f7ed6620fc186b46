import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { staticCpmDirectory } from '../clients/cpm-directory.js';
import { createSipEndpoint } from '../clients/sip/endpoint.js';
import { auditStoreFor } from '../clients/audit-store.js';
import { mediaStoreFor } from '../clients/media-store-s3.js';
import { createSmtpClient } from '../clients/smtp.js';
import { AdmissionGauge, temporalUnroutedCount } from '../ingress/admission.js';
import { temporalDispatcher } from '../ingress/dispatch.js';
import { createMediaServer } from '../ingress/media-server.js';
import { createMm4Server } from '../ingress/mm4-server.js';
import { attachSipIngress } from '../ingress/sip-server.js';
import { SEARCH_ATTRIBUTES } from '../workflows/messages.js';
import type { Config } from './config.js';
import { reachableAt, startDevServer, type DevServer } from './dev-server.js';
import { ensureMediaJanitorSchedule } from './schedules.js';
import { temporalLogger, type Logger } from './logger.js';
import { ConfigError } from './config-schema.js';
import { externalTemporal } from './temporal-connection.js';
import { closableRetry } from './closable-retry.js';
import { localActivityResults } from './local-activity-results.js';
import { AesGcmPayloadCodec, ensureGeneratedKeys, type PayloadKeys } from './payload-codec.js';
import { createCodecServer } from '../ingress/codec-server.js';
import { cachedCheck, createHealthServer } from '../ingress/health.js';
import { cachedStats, countingSmtp, installTemporalRuntime, IwfMetrics, sdkMetricsText } from './metrics.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface RunningIwf {
  temporalAddress: string;
  uiUrl?: string;
  /** What this process runs (config.role). */
  role: Config['role'];
  /** The MM4 listener (reading it in the worker role, which has none, throws). */
  mm4: { host: string; port: number };
  sip: { host: string; port: number };
  /** The SIP over TLS listener, when sip.tlsListen is set. */
  sipTls?: { host: string; port: number };
  /** The media HTTP server (reading it in the worker role, which has none, throws). */
  media: { host: string; port: number };
  /** The remote codec endpoint (payload encryption on): POST /decode, /encode. */
  codec?: { host: string; port: number };
  client: Client;
  /** The operations listener (metrics.listen): /metrics, /healthz, /readyz; absent when metrics.enabled is false. */
  metrics?: { host: string; port: number };
  /** The ingress.maxInFlight gauge both front-ends admit new deliveries through. */
  admission: AdmissionGauge;
  stop(): Promise<void>;
}

function noFrontEnds(what: string): never {
  throw new Error(`RunningIwf.${what}: the worker role runs no front-ends`);
}

/** Where Temporal is: config, then an envconfig profile / TEMPORAL_* variables, else embedded. */
async function resolveTemporal(
  config: Config,
  log: Logger,
  onTemporalLost?: (reason: string) => void,
  /** Runs before the embedded server starts; answers the UI's codec endpoint URL. */
  beforeEmbedded?: () => Promise<string | undefined>,
) {
  const external = externalTemporal(config);
  if (external) return { address: external.address, connect: external };
  const e = config.temporal.embedded;
  const uiCodecEndpoint = await beforeEmbedded?.();
  const server = await startDevServer({
    ip: e.ip,
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
  return { address: server.address, connect: { address: server.address }, server };
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
  // `ingress` runs the front-ends (MM4, SIP ingress, media HTTP) that start and signal deliveries, `worker` the
  // Temporal worker and what its activities need; `all` both. Every role has the operations listener.
  const role = config.role;
  const runs = { frontEnds: role !== 'worker', worker: role !== 'ingress' };
  // Once per process, before any connection or worker; with the SDK's metrics exporter when metrics are on.
  const sdkMetrics = await installTemporalRuntime(
    temporalLogger(log.child({ src: 'temporal' })),
    config.metrics.enabled,
  );
  const metrics = new IwfMetrics();
  /**
   * What readiness reads, filled in as startup goes. `probe`: a connection for readiness probes only,
   * without the retry interceptor, so a probe while Temporal is away ends at its deadline.
   */
  const live: { worker?: Worker; probe?: Connection; listening: boolean } = { listening: false };
  // The operations listener first: /healthz answers while the rest starts, /readyz says what is not ready yet.
  const health = config.metrics.enabled
    ? createHealthServer({
        listen: config.metrics.listen,
        metrics: { contentType: metrics.contentType, parts: [() => metrics.text(), () => sdkMetricsText(sdkMetrics)] },
        readiness: {
          temporal: cachedCheck(async () => {
            const c = live.probe;
            if (!c) throw new Error('not connected yet');
            await c.withDeadline(Date.now() + 2_000, () => c.workflowService.getSystemInfo({}));
          }),
          listeners: () => (live.listening ? { ok: true } : { ok: false, detail: 'front-ends not listening' }),
          worker: () => {
            if (!runs.worker) return { ok: true, detail: 'no worker in this role' };
            const s = live.worker?.getStatus();
            return s?.runState === 'RUNNING' && s.workflowPollerState === 'POLLING'
              ? { ok: true }
              : {
                  ok: false,
                  detail: s ? `worker ${s.runState}, poller ${s.workflowPollerState}` : 'worker not started',
                };
          },
        },
        log: log.child({ src: 'health' }),
      })
    : undefined;
  const healthAddr = await health?.listen();
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
    const uiOrigins = ui
      ? [
          ...new Set([
            `http://127.0.0.1:${e.uiPort}`,
            `http://localhost:${e.uiPort}`,
            new URL(`http://${reachableAt(e.ip, e.uiPort)}`).origin,
          ]),
        ]
      : [];
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
    await health?.close();
    throw e;
  });
  if (!temporal.server) {
    // An external cluster needs keys every worker of it shares: never <dataDir>'s generated one.
    if (enc.enabled && (!keys || enc.generate)) {
      await health?.close(); // nothing may stay listening after a refused start
      throw new ConfigError([
        'temporal.encryption: an external Temporal cluster needs keysFile (and keyId) for payload encryption, or enabled: false',
      ]);
    }
    await startCodec(false);
  }
  // Every payload our client and worker send is encrypted; the codec runs outside the workflow sandbox.
  const dataConverter = keys ? { payloadCodecs: [new AesGcmPayloadCodec(keys)] } : undefined;
  const server: DevServer | undefined = temporal.server;
  const connOpts = temporal.connect;
  // Retries that outlive a stop fail quietly instead of throwing from a timer (worker/closable-retry.ts).
  const retry = closableRetry();
  const connection = await Connection.connect({ ...connOpts, interceptors: [retry.interceptor] });
  if (health) live.probe = Connection.lazy({ ...connOpts, interceptors: [] });
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
    metrics,
  });
  // STARTTLS toward each peer as its mm4.peers[].tls says (RFC 3207), looked up by its SMTP address.
  // Every PDU sent counts as MM4 out by its type (worker/metrics.ts).
  const smtp = countingSmtp(
    createSmtpClient({
      heloName: config.mm4.domain,
      tls: (to) => config.mm4.peers.find((p) => p.smtp.host === to.host && p.smtp.port === to.port)?.tls,
    }),
    metrics,
  );
  const directory = staticCpmDirectory(config.cpm.users);
  const media = mediaStoreFor(config.media);
  const audit = auditStoreFor(config.audit, log.child({ src: 'audit' }));
  // Before the worker: activities put this server's URL into file-transfer descriptors. A worker node has
  // none; its media.publicUrl (required then, worker/config.ts) names an ingress node's, over the shared store.
  const mediaServer = runs.frontEnds
    ? createMediaServer({ store: media, listen: config.media.listen, log: log.child({ src: 'media' }) })
    : undefined;
  const mediaAddr = await mediaServer?.listen();
  // Without media.publicUrl the bound address is the URL (the port may have been 0).
  const mediaPublicUrl = config.media.publicUrl ?? `http://${mediaAddr!.host}:${mediaAddr!.port}`;
  const dispatcher = temporalDispatcher(client, config.temporal.taskQueue, undefined, metrics);
  // One gauge for both directions: the bound is on work accepted, whichever side it came from.
  const admission = new AdmissionGauge({
    maxInFlight: config.ingress.maxInFlight,
    count: temporalUnroutedCount(client, config.temporal.taskQueue),
    log: log.child({ src: 'admission' }),
  });
  admission.start();
  metrics.setSources({
    inFlight: () => admission.snapshot().inFlight,
    mediaStats: cachedStats(() => media.usage(), 10_000),
  });

  const activities = runs.worker
    ? createActivities({
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
        metrics,
      })
    : undefined;
  const worker = activities
    ? await Worker.create({
        connection: nativeConnection,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
        activities,
        maxCachedWorkflows: 1000,
        interceptors: { activity: [localActivityResults()] },
        ...(dataConverter ? { dataConverter } : {}),
      })
    : undefined;
  live.worker = worker;
  const running = worker?.run().catch((e: Error) => log.error({ error: e.message }, 'worker stopped with an error'));

  const mm4 = runs.frontEnds
    ? createMm4Server({
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
        metrics,
      })
    : undefined;
  // Inbound SIP only once the worker runs, so an accepted MESSAGE is processed at once.
  if (runs.frontEnds)
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
      metrics,
    });
  else
    // A worker node's endpoint is there for its own requests, whose responses come back to it (RFC 3261 18.2.2:
    // the Via sent-by). A request reaching it was routed to the wrong node: 503 with Retry-After, so the SIP core
    // tries another one (RFC 3261 21.5.4, 16.7 step 6; RFC 3263 4.3), where 501 would say the method is not
    // supported at all and a dropped request would only be retransmitted into a 408.
    endpoint.onRequest(() => ({
      status: 503,
      reason: 'Service Unavailable (worker node, no SIP ingress)',
      headers: [{ name: 'Retry-After', value: String(config.ingress.retryAfterSeconds) }],
    }));
  const mm4Addr = await mm4?.listen();
  live.listening = true;
  // The janitor's purge runs as an activity, so the node with the worker ensures its schedule.
  const janitor = runs.worker
    ? await ensureMediaJanitorSchedule(client, config.temporal.taskQueue, config.media.purgeIntervalMs)
    : undefined;
  log.info(
    {
      role,
      mm4: mm4Addr,
      sip: { host: endpoint.host, port: endpoint.port },
      media: mediaAddr,
      janitor,
      temporal: temporal.address,
      ui: server?.uiUrl,
      codec: codecAddr,
      metrics: healthAddr,
    },
    'IWF running',
  );

  let stopped: Promise<void> | undefined;
  return {
    role,
    temporalAddress: temporal.address,
    uiUrl: server?.uiUrl,
    get mm4() {
      return mm4Addr ?? noFrontEnds('mm4');
    },
    sip: { host: endpoint.host, port: endpoint.port },
    ...(config.sip.tlsListen ? { sipTls: { host: config.sip.tlsListen.host, port: endpoint.tlsPort } } : {}),
    get media() {
      return mediaAddr ?? noFrontEnds('media');
    },
    codec: codecAddr,
    metrics: healthAddr,
    client,
    admission,
    stop() {
      stopped ??= (async () => {
        live.listening = false; // unready at once, while the rest drains
        await mm4?.close();
        admission.stop();
        await mediaServer?.close();
        media.close();
        if (worker?.getState() === 'RUNNING') worker.shutdown();
        await running;
        await endpoint.close();
        smtp.close();
        await audit.close?.();
        await nativeConnection.close();
        retry.close();
        await connection.close();
        await live.probe?.close();
        await server?.stop();
        await codecServer?.close();
        await health?.close();
        log.info({}, 'IWF stopped');
      })();
      return stopped;
    },
  };
}
