/**
 * The IWF's Prometheus metrics: one prom-client Registry per IWF instance (never the global one, so
 * two instances in one process, as in tests, do not share counters) and typed helpers that
 * clients/, ingress/ and activities/ call through the object worker/iwf.ts injects. Each of those
 * layers declares the few methods it calls as its own structural type, so none imports this file.
 *
 * Labels are small closed sets: a value outside its set is counted as `other`, so no input (a SIP
 * method, an MM4 message type a peer invented) can grow the number of series. No phone number, id
 * or peer-supplied text is ever a label.
 */
import type { Logger } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SmtpClient } from '../clients/smtp.js';
import type { Direction } from '../model/delivery.js';

export const DIRECTIONS: readonly Direction[] = ['mms-to-cpm', 'cpm-to-mms'];
/** OutcomeBase.result (model/outcome.ts). */
export const OUTCOMES = ['delivered', 'partial', 'rejected', 'failed'] as const;
/** What a start of a delivery did (ingress/dispatch.ts). */
export const START_RESULTS = ['accepted', 'duplicate', 'refused', 'unavailable'] as const;
export type StartResult = (typeof START_RESULTS)[number];
/** Methods this endpoint sends or serves (RFC 3428 MESSAGE, RFC 3261 OPTIONS); the rest are refused. */
const SIP_METHODS = ['MESSAGE', 'OPTIONS', 'INVITE', 'CANCEL', 'ACK', 'BYE', 'REGISTER', 'SUBSCRIBE', 'NOTIFY'];
/** 3GPP TS 23.140 8.4 (Table 8): the MM4 PDU types. */
export const MM4_TYPES = [
  'MM4_forward.REQ',
  'MM4_forward.RES',
  'MM4_delivery_report.REQ',
  'MM4_delivery_report.RES',
  'MM4_read_reply_report.REQ',
  'MM4_read_reply_report.RES',
];

/**
 * `sent`: answers our server transactions gave; `received`: final answers to our requests;
 * `local`: the answer our client transaction made up (Timer F 408, transport 503; RFC 3261 17.1.2.2, 8.1.3.1).
 */
export type SipResponseDirection = 'sent' | 'received' | 'local';
export type IngressProtocol = 'smtp' | 'sip';

const closed = <T extends string>(set: readonly string[], v: string): T => (set.includes(v) ? v : 'other') as T;
const statusClass = (status: number) =>
  Number.isInteger(status) && status >= 100 && status <= 699 ? `${Math.floor(status / 100)}xx` : 'other';
/** A label value from code: word characters only, bounded length (the call sites pass literals). */
const token = (v: string) => (/^[a-z0-9_.-]{1,40}$/i.test(v) ? v : 'other');

/** Delivery durations run from a second (a MESSAGE answered at once) to days (retries until expiry). */
const DURATION_BUCKETS = [0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86_400, 3 * 86_400, 7 * 86_400];

export interface MediaStats {
  objects: number;
  bytes: number;
}

export interface MetricsSources {
  /** Deliveries accepted, not yet routed (ingress/admission.ts AdmissionGauge snapshot().inFlight). */
  inFlight?: () => number;
  /** The media store's objects and bytes; called at scrape time (cache inside if it is costly). */
  mediaStats?: () => Promise<MediaStats | undefined>;
}

export class IwfMetrics {
  readonly registry = new Registry();
  private readonly started: Counter<'direction' | 'result'>;
  private readonly finished: Counter<'direction' | 'outcome'>;
  private readonly duration: Histogram<'direction'>;
  private readonly sip: Counter<'direction' | 'method' | 'class'>;
  private readonly mm4: Counter<'direction' | 'type'>;
  private readonly refusals: Counter<'protocol' | 'reason'>;
  private readonly pushBacks: Counter<'protocol' | 'code' | 'reason'>;
  private sources: MetricsSources = {};

  constructor(o: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.started = new Counter({
      name: 'iwf_deliveries_started_total',
      help: 'Delivery starts by ingress: accepted (durably started; a retransmission of a running one joins it and counts here too), duplicate (of a finished one), refused (permanently, by Temporal), unavailable (Temporal unreachable; the peer was told to retry)',
      labelNames: ['direction', 'result'],
      registers,
    });
    this.finished = new Counter({
      name: 'iwf_deliveries_finished_total',
      help: 'Deliveries that reached an outcome (counted once, when their audit record is first written)',
      labelNames: ['direction', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'iwf_delivery_duration_seconds',
      help: 'From the start of a delivery to its outcome (workflow start to audit record)',
      labelNames: ['direction'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.sip = new Counter({
      name: 'iwf_sip_responses_total',
      help: 'SIP final responses: sent (by our server transactions), received (to our requests), local (made up by our client transactions: timeout 408, transport error 503)',
      labelNames: ['direction', 'method', 'class'],
      registers,
    });
    this.mm4 = new Counter({
      name: 'iwf_mm4_pdus_total',
      help: 'MM4 PDUs by type (3GPP TS 23.140 8.4): in (taken at the end of DATA), out (accepted by the peer SMTP server)',
      labelNames: ['direction', 'type'],
      registers,
    });
    this.refusals = new Counter({
      name: 'iwf_ingress_refusals_total',
      help: 'Requests the front-ends refused, other than the try-later answers of iwf_ingress_pushback_total, by reason',
      labelNames: ['protocol', 'reason'],
      registers,
    });
    this.pushBacks = new Counter({
      name: 'iwf_ingress_pushback_total',
      help: 'Try-later answers of the front-ends (SMTP 451/421, SIP 503) by protocol, code and reason',
      labelNames: ['protocol', 'code', 'reason'],
      registers,
    });
    const sources = () => this.sources;
    new Gauge({
      name: 'iwf_deliveries_in_flight',
      help: 'Deliveries accepted but not yet routed, as the admission gauge (ingress.maxInFlight) counts them',
      registers,
      collect() {
        const n = sources().inFlight?.();
        if (n !== undefined) this.set(n);
      },
    });
    // One scrape reads the store once for both gauges.
    let reading: Promise<MediaStats | undefined> | undefined;
    const media = () => {
      reading ??= (sources().mediaStats?.() ?? Promise.resolve(undefined))
        .catch(() => undefined)
        .finally(() => setImmediate(() => (reading = undefined)));
      return reading;
    };
    new Gauge({
      name: 'iwf_media_store_objects',
      help: 'Objects in the media store (as last counted: a failed count keeps the previous value)',
      registers,
      async collect() {
        const s = await media();
        if (s) this.set(s.objects);
      },
    });
    new Gauge({
      name: 'iwf_media_store_bytes',
      help: 'Bytes of the objects in the media store (as last counted: a failed count keeps the previous value)',
      registers,
      async collect() {
        const s = await media();
        if (s) this.set(s.bytes);
      },
    });
    // Process metrics (CPU, memory, event loop lag, handles) under the same prefix.
    if (o.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'iwf_' });
    // Every series of the closed label sets exists from the start at 0, so rate() and the
    // dashboard see a counter before its first event (Prometheus: "avoid missing metrics").
    for (const direction of DIRECTIONS) {
      for (const result of START_RESULTS) this.started.inc({ direction, result }, 0);
      for (const outcome of OUTCOMES) this.finished.inc({ direction, outcome }, 0);
      this.duration.zero({ direction });
    }
    for (const direction of ['in', 'out']) for (const type of MM4_TYPES) this.mm4.inc({ direction, type }, 0);
  }

  /** The readers of state held elsewhere (the admission gauge, the media store), set once they exist. */
  setSources(s: MetricsSources): void {
    this.sources = { ...this.sources, ...s };
  }

  deliveryStarted(direction: Direction, result: StartResult): void {
    this.started.inc({ direction: closed(DIRECTIONS, direction), result: closed(START_RESULTS, result) });
  }

  deliveryFinished(direction: Direction, outcome: string, seconds: number): void {
    const d = closed(DIRECTIONS, direction);
    this.finished.inc({ direction: d, outcome: closed(OUTCOMES, outcome) });
    if (Number.isFinite(seconds) && seconds >= 0) this.duration.observe({ direction: d }, seconds);
  }

  sipResponse(direction: SipResponseDirection, method: string, status: number): void {
    this.sip.inc({ direction, method: closed(SIP_METHODS, method.toUpperCase()), class: statusClass(status) });
  }

  /** `type` as X-Mms-Message-Type names it; `malformed` for a PDU that did not parse. */
  mm4Pdu(direction: 'in' | 'out', type: string): void {
    this.mm4.inc({ direction, type: type === 'malformed' ? type : closed(MM4_TYPES, type) });
  }

  ingressRefused(protocol: IngressProtocol, reason: string): void {
    this.refusals.inc({ protocol, reason: token(reason) });
  }

  pushBack(protocol: IngressProtocol, code: number, reason: string): void {
    this.pushBacks.inc({ protocol, code: String(code), reason: token(reason) });
  }

  /** The exposition text of this registry (text format 0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** X-Mms-Message-Type of a raw MM4 PDU (3GPP TS 23.140 8.4.1), read from its header block only. */
export function mm4TypeOf(raw: Buffer): string {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end < 0 ? Math.min(raw.length, 16_384) : end).toString('latin1');
  return /^X-Mms-Message-Type:[ \t]*([^\s;]+)/im.exec(head)?.[1] ?? 'other';
}

/** The SMTP client with every PDU the peer accepted counted as MM4 out, by its type. */
export function countingSmtp(smtp: SmtpClient, metrics: Pick<IwfMetrics, 'mm4Pdu'>): SmtpClient {
  return {
    send: async (o) => {
      await smtp.send(o);
      metrics.mm4Pdu('out', mm4TypeOf(o.raw));
    },
    capabilities: (peer, o) => smtp.capabilities(peer, o),
    close: () => smtp.close(),
  };
}

/**
 * `read` run at most every `maxAgeMs` (concurrent callers share a run): listing a media store costs
 * a stat per object (a directory) or a request per 1000 objects (S3), which a scrape every 15 s
 * should not repeat.
 */
export function cachedStats<T>(read: () => Promise<T>, maxAgeMs = 30_000, now: () => number = Date.now) {
  let last: { at: number; value: T } | undefined;
  let reading: Promise<T> | undefined;
  return async (): Promise<T> => {
    if (last && now() - last.at < maxAgeMs) return last.value;
    reading ??= read()
      .then((value) => {
        last = { at: now(), value };
        return value;
      })
      .finally(() => (reading = undefined));
    return reading;
  };
}

/** A port free on loopback now (the SDK's exporter binds it itself, so it cannot be given port 0). */
async function freeLoopbackPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let sdkMetricsUrl: string | undefined;
let runtimeTried = false;

/**
 * Installs the Temporal Runtime once per process (it must precede every NativeConnection and
 * Worker), with `logger` and, when `withMetrics`, the SDK's own Prometheus exporter on a free
 * loopback port; `/metrics` of the IWF appends what that exporter serves (sdkMetricsText), so
 * one scrape target carries both. Answers the exporter's URL, when there is one. A Runtime
 * installed earlier in this process (tests) is kept as it is.
 */
export async function installTemporalRuntime(logger: Logger, withMetrics: boolean): Promise<string | undefined> {
  if (runtimeTried) return sdkMetricsUrl;
  runtimeTried = true;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = withMetrics ? await freeLoopbackPort() : 0;
    try {
      Runtime.install({
        logger,
        ...(withMetrics ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${port}` } } } } : {}),
      });
      if (withMetrics) sdkMetricsUrl = `http://127.0.0.1:${port}/metrics`;
      return sdkMetricsUrl;
    } catch (e) {
      // Already installed (or instantiated by default) earlier in this process: keep that one.
      if (/already|instantiated|installed/i.test((e as Error).message) || !withMetrics) return undefined;
      // The port was taken between the probe and the bind: another one.
      if (attempt === 3) throw e;
    }
  }
  return undefined;
}

/** The SDK exporter's text, or nothing when it does not answer within `timeoutMs`. */
export async function sdkMetricsText(url: string | undefined, timeoutMs = 2_000): Promise<string> {
  if (!url) return '';
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? await res.text() : '';
  } catch {
    return '';
  }
}
