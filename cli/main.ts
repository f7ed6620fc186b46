/**
 * `iwf`: the operator's command line. Talks to the same Temporal namespace as the IWF, found the
 * way the IWF finds it (worker/temporal-connection.ts): `--config`/IWF_CONFIG, TEMPORAL_ADDRESS,
 * the envconfig profile with its TLS and API key, and the payload keys of temporal.encryption.
 *
 * Exit codes: 0 done; 1 a refusal or failure (an operator command the delivery's state does not
 * take, Temporal unreachable, no such delivery); 2 a usage error (unknown option, bad value, a state
 * or peer that does not exist, a bad configuration).
 */
import { Command, CommanderError } from 'commander';
import { Client, Connection } from '@temporalio/client';
import { ConfigError, loadConfig, type Config } from '../worker/config.js';
import { auditStoreFor } from '../clients/audit-store.js';
import { AesGcmPayloadCodec } from '../worker/payload-codec.js';
import { temporalConnectionOptions } from '../worker/temporal-connection.js';
import {
  checkState,
  commandDelivery,
  findStuck,
  listDeliveries,
  parseDuration,
  parseSince,
  printStuck,
  reasonOf,
  retryStuck,
  showDelivery,
  UsageError,
  WAITING_STATES,
  type Out,
} from './deliveries.js';
import { exportAudit, showAudit } from './audit.js';

let epipeGuard = false;
/**
 * Lines on stdout. A reader that goes away (`iwf audit export | head -1`) makes the next write
 * fail with EPIPE (Node ignores SIGPIPE): that is the end of the output, not an error, so the
 * command ends quietly with 0 as POSIX filters do.
 */
function stdoutLines(): Out {
  if (!epipeGuard) {
    epipeGuard = true;
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
  }
  return { print: (l) => void process.stdout.write(`${l}\n`) };
}

export async function runCli(
  argv: string[],
  out: Out = stdoutLines(),
  err: Out = { print: (l) => console.error(l) },
  opts: { env?: NodeJS.ProcessEnv; now?: () => number } = {},
): Promise<number> {
  const env = opts.env ?? process.env;
  const now = opts.now ?? Date.now;
  let client: Client | undefined;
  let loaded: Config | undefined;
  const config = () => {
    const file = program.opts<{ config?: string }>().config;
    return (loaded ??= loadConfig(file ? ['--config', file] : [], env));
  };
  const connect = async () => {
    const cfg = config();
    const options = temporalConnectionOptions(cfg, env);
    try {
      const connection = await Connection.connect({ ...options, connectTimeout: 5000 });
      // The IWF's payload keys (temporal.encryption): results and queries are decrypted here. Without
      // them (encryption off, or the embedded server's key not generated yet) payloads are read as stored.
      const keys = cfg.temporal.encryption.keys;
      client = new Client({
        connection,
        namespace: cfg.temporal.namespace,
        ...(keys ? { dataConverter: { payloadCodecs: [new AesGcmPayloadCodec(keys)] } } : {}),
      });
      return client;
    } catch (e) {
      throw new Error(`cannot reach Temporal at ${options.address}: ${(e as Error).message}`, { cause: e });
    }
  };
  /** `--peer` names one of mm4.peers[] of the IWF's configuration, checked before anything is sent. */
  const checkPeer = (peer: string) => {
    const names = config().mm4.peers.map((p) => p.name);
    if (names.includes(peer)) return peer;
    throw new UsageError(
      names.length
        ? `--peer: '${peer}' is not a configured MMSC peer; mm4.peers: ${names.join(', ')}`
        : `--peer: '${peer}' is not a configured MMSC peer: the configuration names none (give the IWF's with --config FILE or IWF_CONFIG)`,
    );
  };
  const positiveInt = (v: string, option: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1)
      throw new UsageError(`${option}: '${v}' is not a positive integer`);
    return n;
  };

  const program = new Command('iwf')
    .description('Operate the CPM <-> MMS interworking function')
    .option('--config <file>', 'IWF configuration (YAML/JSON); also IWF_CONFIG')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.print(s.trimEnd()), writeErr: (s) => err.print(s.trimEnd()) });
  const d = program.command('deliveries').description('find, inspect and steer deliveries');
  d.command('list')
    .description('deliveries from Temporal visibility, newest start first')
    .option('--state <state>', 'machine state, e.g. retryWait, awaitingRes')
    .option('--direction <direction>', 'mms-to-cpm or cpm-to-mms')
    .option('--since <when>', 'started after: 30m, 2h, 7d or an ISO date-time')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'JSON output for scripts')
    .action(async (o: { state?: string; direction?: string; since?: string; limit: string; json?: boolean }) => {
      if (o.direction && !['mms-to-cpm', 'cpm-to-mms'].includes(o.direction))
        throw new UsageError(`--direction: '${o.direction}' is not mms-to-cpm or cpm-to-mms`);
      const limit = positiveInt(o.limit, '--limit');
      if (o.state) checkState(o.state);
      const since = o.since ? parseSince(o.since, now()) : undefined;
      await listDeliveries(await connect(), out, {
        state: o.state,
        direction: o.direction,
        since,
        limit,
        json: !!o.json,
      });
    });
  d.command('stuck')
    .description(`running deliveries waiting (${WAITING_STATES.join(', ')}) longer than --older-than`)
    .option('--older-than <duration>', 'in the waiting state at least this long: 90s, 30m, 2h, 7d', '30m')
    .option('--peer <name>', 'only deliveries of this MMSC peer (IwfPeer)')
    .option('--json', 'JSON output for scripts')
    .action(async (o: { olderThan: string; peer?: string; json?: boolean }) => {
      const olderThanMs = parseDuration(o.olderThan, '--older-than');
      if (o.peer) checkPeer(o.peer);
      printStuck(out, await findStuck(await connect(), { olderThanMs, peer: o.peer, now: now() }), !!o.json);
    });
  d.command('show <id>')
    .description('state, summary and audit trail of one delivery')
    .option('--json', 'JSON output for scripts')
    .action(async (id: string, o: { json?: boolean }) => showDelivery(await connect(), out, id, !!o.json));
  d.command('retry [id]')
    .description('skip the current wait and try again now (one delivery, or every stuck one)')
    .option('--all-stuck', 'every delivery `deliveries stuck` lists, each through the same operator update')
    .option('--older-than <duration>', 'with --all-stuck: in the waiting state at least this long', '30m')
    .option('--peer <name>', 'with --all-stuck: only deliveries of this MMSC peer')
    .option('--dry-run', 'with --all-stuck: print what would be retried, send nothing')
    .option('--json', 'JSON output')
    .action(
      async (
        id: string | undefined,
        o: { allStuck?: boolean; olderThan: string; peer?: string; dryRun?: boolean; json?: boolean },
        cmd: Command,
      ) => {
        const bulkOnly = (['olderThan', 'peer', 'dryRun'] as const).filter(
          (k) => o[k] !== undefined && cmd.getOptionValueSource(k) !== 'default',
        );
        if (!o.allStuck) {
          if (!id) throw new UsageError('retry: give a workflow id or --all-stuck');
          if (bulkOnly.length) throw new UsageError(`retry: --older-than, --peer and --dry-run go with --all-stuck`);
          return commandDelivery(await connect(), out, id, { type: 'operator.retry' }, !!o.json);
        }
        if (id) throw new UsageError(`retry: a workflow id ('${id}') and --all-stuck exclude each other`);
        const olderThanMs = parseDuration(o.olderThan, '--older-than');
        if (o.peer) checkPeer(o.peer);
        const c = await connect();
        const stuck = await findStuck(c, { olderThanMs, peer: o.peer, now: now() });
        if (!(await retryStuck(c, out, stuck, { dryRun: !!o.dryRun, json: !!o.json })))
          throw new RefusedError('some retries were refused');
      },
    );
  d.command('abandon <id>')
    .description('end the delivery, sending the failure answer the protocol requires')
    .requiredOption('--reason <text>', 'why (recorded in the audit trail)')
    .option('--json', 'JSON output')
    .action(async (id: string, o: { reason: string; json?: boolean }) => {
      if (!o.reason.trim()) throw new UsageError('--reason: must not be empty');
      await commandDelivery(await connect(), out, id, { type: 'operator.abandon', reason: o.reason }, !!o.json);
    });
  d.command('reroute <id>')
    .description('CPM -> MMS: send to another MMSC peer (one of mm4.peers[] of the configuration)')
    .requiredOption('--peer <name>', 'mm4.peers[] name')
    .option('--json', 'JSON output')
    .action(async (id: string, o: { peer: string; json?: boolean }) =>
      commandDelivery(await connect(), out, id, { type: 'operator.reroute', peer: checkPeer(o.peer) }, !!o.json),
    );

  // The audit store is read directly: it outlives Temporal's retention and needs no cluster.
  let opened: ReturnType<typeof auditStoreFor> | undefined;
  const store = () => (opened ??= auditStoreFor(config().audit));
  const a = program
    .command('audit')
    .description('audit records of finished deliveries (kept after Temporal retention)');
  a.command('show <id>')
    .description("a delivery's states, events and outcome")
    .option('--json', 'JSON output')
    .action(async (id: string, o: { json?: boolean }) => {
      if (!(await showAudit(store(), out, id, !!o.json))) throw new Error(`no audit record for ${id}`);
    });
  a.command('export')
    .description('records as JSON lines, for archives and analysis')
    .requiredOption('--since <when>', 'ended after: 30m, 2h, 7d or an ISO date-time')
    .action(async (o: { since: string }) => exportAudit(store(), out, parseSince(o.since, now())));

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    // Commander's own (unknown option, missing argument or value): it has printed the message.
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UsageError || e instanceof ConfigError) {
      err.print(`iwf: ${e.message}`);
      return 2;
    }
    if (e instanceof RefusedError) return 1; // each refusal is printed with its delivery
    // Update refusals arrive as WorkflowUpdateFailedError with the validator's message as cause.
    err.print(`iwf: ${reasonOf(e)}`);
    return 1;
  } finally {
    await client?.connection.close();
    await (opened as { close?: () => Promise<void> } | undefined)?.close?.();
  }
}

class RefusedError extends Error {}
