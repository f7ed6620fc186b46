/**
 * `iwf`: the operator's command line. Talks to the same Temporal namespace as the IWF,
 * found through the IWF's configuration (`--config`, IWF_CONFIG, TEMPORAL_ADDRESS ...).
 */
import { Command, CommanderError } from 'commander';
import { Client, Connection } from '@temporalio/client';
import { ConfigError, loadConfig } from '../worker/config.js';
import { auditStoreFor } from '../clients/audit-store.js';
import { AesGcmPayloadCodec } from '../worker/payload-codec.js';
import { commandDelivery, listDeliveries, parseSince, showDelivery, type Out } from './deliveries.js';
import { exportAudit, showAudit } from './audit.js';

export async function runCli(
  argv: string[],
  out: Out = { print: (l) => console.log(l) },
  err: Out = { print: (l) => console.error(l) },
): Promise<number> {
  let client: Client | undefined;
  const connect = async (opts: { config?: string }) => {
    const config = loadConfig(opts.config ? ['--config', opts.config] : [], process.env);
    const address = config.temporal.address ?? `127.0.0.1:${config.temporal.embedded.port}`;
    try {
      const connection = await Connection.connect({ address, connectTimeout: 5000 });
      // The IWF's payload keys (temporal.encryption): results and queries are decrypted here. Without
      // them (encryption off, or the embedded server's key not generated yet) payloads are read as stored.
      const keys = config.temporal.encryption.keys;
      client = new Client({
        connection,
        namespace: config.temporal.namespace,
        ...(keys ? { dataConverter: { payloadCodecs: [new AesGcmPayloadCodec(keys)] } } : {}),
      });
      return client;
    } catch (e) {
      throw new Error(`cannot reach Temporal at ${address}: ${(e as Error).message}`, { cause: e });
    }
  };
  const program = new Command('iwf')
    .description('Operate the CPM <-> MMS interworking function')
    .option('--config <file>', 'IWF configuration (YAML/JSON); also IWF_CONFIG')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.print(s.trimEnd()), writeErr: (s) => err.print(s.trimEnd()) });
  const d = program.command('deliveries').description('find, inspect and steer deliveries');
  const global = () => program.opts<{ config?: string }>();
  d.command('list')
    .description('deliveries from Temporal visibility, newest first')
    .option('--state <state>', 'machine state, e.g. retryWait, awaitingRes')
    .option('--direction <direction>', 'mms-to-cpm or cpm-to-mms')
    .option('--since <when>', 'started after: 30m, 2h, 7d or an ISO date-time')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'JSON output for scripts')
    .action(async (o: { state?: string; direction?: string; since?: string; limit: string; json?: boolean }) => {
      if (o.direction && !['mms-to-cpm', 'cpm-to-mms'].includes(o.direction))
        throw new Error(`--direction: '${o.direction}' is not mms-to-cpm or cpm-to-mms`);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new Error(`--limit: '${o.limit}' is not a positive integer`);
      await listDeliveries(await connect(global()), out, {
        state: o.state,
        direction: o.direction,
        since: o.since ? parseSince(o.since) : undefined,
        limit,
        json: !!o.json,
      });
    });
  d.command('show <id>')
    .description('state, summary and audit trail of one delivery')
    .option('--json', 'JSON output for scripts')
    .action(async (id: string, o: { json?: boolean }) => showDelivery(await connect(global()), out, id, !!o.json));
  d.command('retry <id>')
    .description('skip the current wait and try again now')
    .option('--json', 'JSON output')
    .action(async (id: string, o: { json?: boolean }) =>
      commandDelivery(await connect(global()), out, id, { type: 'operator.retry' }, !!o.json),
    );
  d.command('abandon <id>')
    .description('end the delivery, sending the failure answer the protocol requires')
    .requiredOption('--reason <text>', 'why (recorded in the audit trail)')
    .option('--json', 'JSON output')
    .action(async (id: string, o: { reason: string; json?: boolean }) =>
      commandDelivery(await connect(global()), out, id, { type: 'operator.abandon', reason: o.reason }, !!o.json),
    );
  d.command('reroute <id>')
    .description('CPM -> MMS: send to another MMSC peer')
    .requiredOption('--peer <name>', 'mm4.peers[] name')
    .option('--json', 'JSON output')
    .action(async (id: string, o: { peer: string; json?: boolean }) =>
      commandDelivery(await connect(global()), out, id, { type: 'operator.reroute', peer: o.peer }, !!o.json),
    );

  // The audit store is read directly: it outlives Temporal's retention and needs no cluster.
  let opened: ReturnType<typeof auditStoreFor> | undefined;
  const store = () =>
    (opened ??= auditStoreFor(loadConfig(global().config ? ['--config', global().config!] : [], process.env).audit));
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
    .action(async (o: { since: string }) => exportAudit(store(), out, parseSince(o.since)));

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof ConfigError) {
      err.print(`iwf: ${e.message}`);
      return 2;
    }
    // Update refusals arrive as WorkflowUpdateFailedError with the validator's message as cause.
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    err.print(`iwf: ${cause ?? (e as Error).message}`);
    return 1;
  } finally {
    await client?.connection.close();
    await (opened as { close?: () => Promise<void> } | undefined)?.close?.();
  }
}
