import type { Client } from '@temporalio/client';
import type { Direction } from '../model/delivery.js';

/**
 * The states of each delivery machine (machines/*.machine.ts, published as the `IwfState` search
 * attribute by workflows/run-machine.ts) in which a delivery is accepted but not yet routed: the
 * work still ahead of its first hand-over to the other side. MMS -> CPM is routed once its SIP
 * MESSAGE transaction has an answer (`routing` left); CPM -> MMS once its MM4_forward.REQ is sent
 * (`sending` left). Later states wait on durable timers or on the peer (retryWait, awaitingRes,
 * reports) and cost no worker time, so they do not hold new deliveries back. `routing`/`sending`
 * re-entered for a retry count again: they occupy a worker and a transaction then too.
 */
export const UNROUTED_STATES: Record<Direction, readonly string[]> = {
  'mms-to-cpm': ['received', 'converting', 'checkingRoutes', 'storing', 'routing'],
  'cpm-to-mms': ['received', 'selecting', 'converting', 'fetching', 'adapting', 'sending'],
};

const quote = (s: string) => `'${s.replace(/'/g, "\\'")}'`;

/**
 * Temporal visibility query for the running, not yet routed deliveries of one task queue (all
 * IWF processes serving it count, whichever started the delivery).
 */
export function unroutedQuery(taskQueue: string): string {
  const byDirection = Object.entries(UNROUTED_STATES)
    .map(([d, states]) => `(IwfDirection = ${quote(d)} AND IwfState IN (${states.map(quote).join(', ')}))`)
    .join(' OR ');
  return `ExecutionStatus = 'Running' AND TaskQueue = ${quote(taskQueue)} AND (${byDirection})`;
}

/** What a count found: the unrouted deliveries, and which of the asked-for recent starts it includes. */
export interface UnroutedCount {
  total: number;
  /** Of the workflow ids asked about, those the count includes (visible and still unrouted). */
  visible: string[];
}

/** Most recent starts looked up by id per count; beyond, the oldest are taken by time (visibilityLagMs). */
const MAX_IDS_PER_COUNT = 100;

/**
 * `client.workflow.count` over {@link unroutedQuery}, plus a list of the given recent starts among
 * them, so a start already visible is not counted twice (once by Temporal, once locally).
 */
export function temporalUnroutedCount(
  client: Client,
  taskQueue: string,
  deadlineMs = 5_000,
): (recentIds: string[]) => Promise<UnroutedCount> {
  const query = unroutedQuery(taskQueue);
  return async (recentIds) =>
    client.connection.withDeadline(Date.now() + deadlineMs, async () => {
      const { count } = await client.workflow.count(query);
      const visible: string[] = [];
      const ids = recentIds.slice(-MAX_IDS_PER_COUNT);
      if (ids.length) {
        const q = `${query} AND WorkflowId IN (${ids.map(quote).join(', ')})`;
        for await (const w of client.workflow.list({ query: q, pageSize: ids.length })) visible.push(w.workflowId);
      }
      return { total: count, visible };
    });
}

export interface AdmissionTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const realTimers: AdmissionTimers = {
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

export interface AdmissionOptions {
  /** `ingress.maxInFlight`: deliveries accepted but not yet routed; 0 = unbounded (nothing is counted). */
  maxInFlight: number;
  /**
   * Running, not yet routed deliveries as Temporal sees them (e.g. {@link temporalUnroutedCount});
   * given this process's recent starts by workflow id, it may say which of them it includes.
   */
  count: (recentIds: string[]) => Promise<number | UnroutedCount>;
  /** How often the count is refreshed (default 1 s). */
  refreshMs?: number;
  /**
   * How long a start may stay invisible to the count (Temporal's visibility store is eventually
   * consistent: SQL in milliseconds, Elasticsearch about 1 s). Local starts this much older than
   * a count's query are taken as counted by it. Default `refreshMs`.
   */
  visibilityLagMs?: number;
  /** Without a successful count for this long the gauge is stale (default 5 refreshes). */
  staleAfterMs?: number;
  now?: () => number;
  timers?: AdmissionTimers;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

/** A place taken while a delivery is being started: settle it with what the start did. */
export interface AdmissionTicket {
  /** `started`: a new delivery, it counts until the Temporal count includes it; otherwise the place is freed. */
  settle(how: 'started' | 'existing' | 'failed', workflowId?: string): void;
}

export interface AdmissionSnapshot {
  limit: number;
  /** Not yet routed deliveries in Temporal at the last successful count. */
  counted: number;
  /** Deliveries this process started that the last count may not include yet. */
  recent: number;
  /** Starts in progress (tickets not yet settled). */
  pending: number;
  /** Whether the last successful count is recent enough to be used. */
  fresh: boolean;
  inFlight: number;
}

/**
 * The admission gauge of the front-ends: how many deliveries are accepted but not yet routed,
 * across processes and restarts (the count comes from Temporal), plus what this process started
 * since. Over `maxInFlight` the front-ends push back with their protocol's "try later" (SMTP 451
 * 4.3.2, SIP 503 + Retry-After), so accepted work keeps a bounded latency instead of a queue.
 *
 * A gauge Temporal cannot refresh does not refuse by itself: when stale it bounds only the starts
 * in progress (a start that cannot reach Temporal is answered 451/503 by the dispatch path anyway).
 */
export class AdmissionGauge {
  private counted = 0;
  private countedAt = -Infinity;
  /** This process's starts the last count may not include: when, and the workflow id when known. */
  private recent: { at: number; id?: string }[] = [];
  private pending = 0;
  private refreshing?: Promise<void>;
  private handle: unknown;
  private over = false;
  private failing = false;
  private readonly now: () => number;
  private readonly refreshMs: number;
  private readonly lagMs: number;
  private readonly staleMs: number;

  constructor(private readonly o: AdmissionOptions) {
    this.now = o.now ?? Date.now;
    this.refreshMs = o.refreshMs ?? 1_000;
    this.lagMs = o.visibilityLagMs ?? this.refreshMs;
    this.staleMs = o.staleAfterMs ?? 5 * this.refreshMs;
  }

  get limit(): number {
    return this.o.maxInFlight;
  }

  /** Refreshes every `refreshMs` until stop(); unbounded gauges never query. */
  start(): void {
    if (this.o.maxInFlight === 0 || this.handle !== undefined) return;
    void this.refresh();
    this.handle = (this.o.timers ?? realTimers).setInterval(() => void this.refresh(), this.refreshMs);
  }

  stop(): void {
    if (this.handle !== undefined) (this.o.timers ?? realTimers).clearInterval(this.handle);
    this.handle = undefined;
  }

  /** One count from Temporal; concurrent calls share it. Never rejects. */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      const issuedAt = this.now();
      try {
        const asked = this.recent.flatMap((r) => (r.id ? [r.id] : []));
        const result = await this.o.count(asked);
        const { total: n, visible } = typeof result === 'number' ? { total: result, visible: [] } : result;
        const seen = new Set(visible);
        this.counted = n;
        this.countedAt = this.now();
        // Starts the count includes leave the local list; so do those well before the query (in its
        // count, or routed since); later ones stay counted locally.
        this.recent = this.recent.filter((r) => !(r.id && seen.has(r.id)) && r.at > issuedAt - this.lagMs);
        if (this.failing) this.o.log?.info({ counted: n }, 'admission gauge: Temporal count available again');
        this.failing = false;
      } catch (e) {
        if (!this.failing)
          this.o.log?.warn(
            { error: (e as Error).message },
            'admission gauge: Temporal count failed; admission bounds only starts in progress until it returns',
          );
        this.failing = true;
        // Without counts nothing prunes `recent`; what is older than the staleness window is dropped.
        this.recent = this.recent.filter((r) => r.at > this.now() - this.staleMs);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  snapshot(): AdmissionSnapshot {
    const fresh = this.now() - this.countedAt <= this.staleMs;
    const inFlight = fresh ? this.counted + this.recent.length + this.pending : this.pending;
    return {
      limit: this.o.maxInFlight,
      counted: this.counted,
      recent: this.recent.length,
      pending: this.pending,
      fresh,
      inFlight,
    };
  }

  /**
   * A place for one new delivery, or undefined when `maxInFlight` are already accepted and not
   * yet routed. Reserved at once, so concurrent requests cannot all pass the same check.
   */
  tryAdmit(): AdmissionTicket | undefined {
    const bounded = this.o.maxInFlight > 0;
    if (bounded) {
      const s = this.snapshot();
      const over = s.inFlight >= this.o.maxInFlight;
      if (over !== this.over) {
        this.over = over;
        this.o.log?.[over ? 'warn' : 'info'](
          { ...s },
          over ? 'admission: over ingress.maxInFlight, pushing back' : 'admission: under ingress.maxInFlight again',
        );
      }
      if (over) return undefined;
    }
    this.pending++;
    let settled = false;
    return {
      settle: (how, workflowId) => {
        if (settled) return;
        settled = true;
        this.pending--;
        if (how === 'started' && bounded) this.recent.push({ at: this.now(), id: workflowId });
      },
    };
  }
}

/** A gauge that admits everything (ingress.maxInFlight 0, and front-ends built without one). */
export const unboundedAdmission = () => new AdmissionGauge({ maxInFlight: 0, count: async () => 0 });
