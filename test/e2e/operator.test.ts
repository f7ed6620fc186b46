/**
 * Operator control: the `iwf` command line against a running IWF and a real dev server:
 * list and show deliveries, retry now, abandon with a reason, reroute, and clear refusals.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSipEndpoint, type SipEndpoint } from '../../clients/sip/endpoint.js';
import { runCli } from '../../cli/main.js';
import { mmsToCpmWorkflowId, type AuditView } from '../../workflows/messages.js';
import { cpmDeliveryId } from '../../ingress/sip-server.js';
import { forwardReq, sendMm4 } from '../helpers/mmsc.js';
import { waitFor } from '../helpers/ports.js';
import { startMmsToCpmRig } from '../helpers/rig.js';

let env: Awaited<ReturnType<typeof startMmsToCpmRig>>;
test.before(async () => {
  // The MMSC never answers forward.REQs (CPM -> MMS deliveries wait); CPM users are always
  // offline (480: MMS -> CPM deliveries wait).
  env = await startMmsToCpmRig({
    answer: () => 480,
    iwf: { retry: { maxAttempts: 5, initialInterval: '1h' }, mm4Ack: { timeout: '1h', maxAttempts: 3 } },
  });
  process.env.TEMPORAL_ADDRESS = env.temporal.address;
  // The CLI checks `reroute --peer` against the IWF's mm4.peers, from the configuration it is given.
  const cfg = join(mkdtempSync(join(tmpdir(), 'iwf-cfg-')), 'iwf.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      ...(process.env.IWF_TEST_ENCRYPTION === '1' ? {} : { temporal: { encryption: { enabled: false } } }),
      mm4: { peers: [{ name: 'operator-a', domains: ['mms.mnc001.mcc001.gprs'], smtp: '127.0.0.1:2526' }] },
    }),
  );
  process.env.IWF_CONFIG = cfg;
});
test.after.always(async () => {
  await env?.stop();
});

async function iwf(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { print: (l) => out.push(l) }, { print: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}
const ORIGIN = 'system-user@mms.mnc001.mcc001.gprs';
const stateOf = async (id: string) =>
  (JSON.parse((await iwf('deliveries', 'show', id, '--json')).out) as { audit?: AuditView }).audit?.state as string;

test('a delivery waiting to retry is listed, retried now, then abandoned with its reason', async (t) => {
  const id = mmsToCpmWorkflowId(ORIGIN, 'M-op');
  // No delivery report asked: the .RES waits for the outcome (store-and-forward would ack at once).
  await sendMm4(env.iwf.mm4.port, forwardReq({ messageId: 'M-op', deliveryReport: false }), {
    from: 'a@b',
    to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
  });
  await waitFor('retryWait', async () => ((await stateOf(id)) === 'retryWait' ? true : undefined));

  const listed = await iwf(
    'deliveries',
    'list',
    '--state',
    'retryWait',
    '--direction',
    'mms-to-cpm',
    '--since',
    '1h',
    '--json',
  );
  t.is(listed.code, 0, listed.err);
  t.true((JSON.parse(listed.out) as { id: string }[]).some((r) => r.id === id));
  const table = await iwf('deliveries', 'list', '--state', 'retryWait');
  t.regex(table.out, /^WORKFLOW ID\s+DIRECTION\s+STATE/);
  t.false(/\+1202555/.test(table.out), 'no phone numbers in the listing');

  const before = env.peer.seen.length;
  const retried = await iwf('deliveries', 'retry', id);
  t.is(retried.code, 0, retried.err);
  t.regex(retried.out, /operator.retry accepted/);
  await waitFor('second attempt', () => (env.peer.seen.length > before ? true : undefined));
  await waitFor('back in retryWait', async () => ((await stateOf(id)) === 'retryWait' ? true : undefined));

  const refused = await iwf('deliveries', 'reroute', id, '--peer', 'operator-a');
  t.is(refused.code, 1);
  t.regex(
    refused.err,
    /'operator.reroute' is not possible in state 'retryWait'/,
    'the validator refuses what the state does not take',
  );

  const abandoned = await iwf('deliveries', 'abandon', id, '--reason', 'subscriber ported out');
  t.is(abandoned.code, 0, abandoned.err);
  const res = await waitFor('.RES', () => env.mmsc.received.find((r) => r.transactionId === 'T-M-op'));
  t.is(res.requestStatus, 'Error-network-problem');
  t.regex(res.statusText ?? '', /abandoned by operator: subscriber ported out/);

  await env.iwf.client.workflow.getHandle(id).result(); // after its audit record is written
  const shown = await iwf('deliveries', 'show', id);
  t.regex(shown.out, /status\s+COMPLETED, state done/);
  t.regex(shown.out, /retryWait\s+routing\s+operator\.retry/);
  t.regex(shown.out, /operator: abandon \(subscriber ported out\)/);

  const again = await iwf('deliveries', 'retry', id);
  t.is(again.code, 1);
  t.regex(again.err, /already completed/);
});

test('a CPM -> MMS delivery waiting for its .RES is resent on retry and rerouted on request', async (t) => {
  const core: SipEndpoint = await createSipEndpoint({ host: '127.0.0.1', port: 0 });
  try {
    const cpim =
      'From: <tel:+12025550101>\r\nTo: <tel:+4915112345600>\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: op-cpm\r\n\r\nContent-Type: text/plain\r\n\r\nhi';
    const res = await core.sendRequest(
      {
        method: 'MESSAGE',
        uri: 'tel:+4915112345600',
        headers: [
          { name: 'From', value: '<tel:+12025550101>;tag=o' },
          { name: 'To', value: '<tel:+4915112345600>' },
          { name: 'Call-ID', value: 'op-cpm' },
          { name: 'CSeq', value: '1 MESSAGE' },
          { name: 'P-Asserted-Identity', value: '<tel:+12025550101>' },
          { name: 'Content-Type', value: 'message/cpim' },
        ],
        body: Buffer.from(cpim),
      },
      { host: '127.0.0.1', port: env.iwf.sip.port, transport: 'udp' },
    );
    t.is(res.status, 202);
    const id = cpmDeliveryId('tel:+12025550101', 'op-cpm');
    await waitFor('awaitingRes', async () => ((await stateOf(id)) === 'awaitingRes' ? true : undefined));
    const reqs = () => env.mmsc.received.filter((r) => r.envelope.to[0].startsWith('+4915112345600'));
    t.is(reqs().length, 1);
    t.is((await iwf('deliveries', 'retry', id)).code, 0);
    await waitFor('resend', () => (reqs().length === 2 ? true : undefined));
    // The MMSC has the copy before the send's completion is recorded: reroute waits for awaitingRes.
    await waitFor('awaitingRes again', async () => ((await stateOf(id)) === 'awaitingRes' ? true : undefined));
    const rerouted = await iwf('deliveries', 'reroute', id, '--peer', 'operator-a', '--json');
    t.is(rerouted.code, 0, rerouted.err);
    t.like(JSON.parse(rerouted.out), { workflowId: id, command: 'operator.reroute' });
    await waitFor('rerouted send', () => (reqs().length === 3 ? true : undefined));
    t.is(reqs()[2].messageId, reqs()[0].messageId, 'the same MM, sent again');
    const bad = await iwf('deliveries', 'abandon', id);
    t.is(bad.code, 2, 'a missing --reason is a usage error');
    t.regex(bad.err, /--reason/);
  } finally {
    await core.close();
  }
});

test('the installed `iwf` command runs and names bad input clearly', async (t) => {
  const bin = fileURLToPath(new URL('../../bin/iwf.mjs', import.meta.url));
  const run = (args: string[]) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', (code) => resolve({ code, out }));
    });
  const list = await run(['deliveries', 'list', '--direction', 'sideways']);
  t.is(list.code, 2, 'a usage error');
  t.regex(list.out, /--direction: 'sideways' is not mms-to-cpm or cpm-to-mms/);
  const unknown = await run(['deliveries', 'show', 'mms-to-cpm/nobody/none']);
  t.is(unknown.code, 1);
  t.regex(unknown.out, /iwf: .*(not found|NotFound)/i);
  const help = await run(['--help']);
  t.is(help.code, 0);
  t.regex(help.out, /deliveries/);
});

test('a finished delivery is in the audit store, shown and exported by iwf audit', async (t) => {
  const id = mmsToCpmWorkflowId(ORIGIN, 'M-op');
  // The delivery abandoned in the first test has ended by now; its record is written at the end.
  await env.iwf.client.workflow
    .getHandle(id)
    .result()
    .catch(() => undefined);
  const file = env.iwf.config.audit.file;
  const cfg = join(mkdtempSync(join(tmpdir(), 'iwf-cfg-')), 'iwf.json');
  writeFileSync(cfg, JSON.stringify({ audit: { file } }));
  const shown = await waitFor('audit record', async () => {
    const r = await iwf('--config', cfg, 'audit', 'show', id);
    return r.code === 0 ? r : undefined;
  });
  t.regex(shown.out, /outcome\s+failed \(MM4 Error-network-problem\)/);
  t.regex(shown.out, /retryWait -> routing {2}operator\.retry/);
  t.regex(shown.out, /mm4MessageId=M-op/);
  const exported = await iwf('--config', cfg, 'audit', 'export', '--since', '1h');
  t.true(
    exported.out
      .split('\n')
      .map((l) => JSON.parse(l) as { workflowId: string })
      .some((r) => r.workflowId === id),
  );
  const missing = await iwf('--config', cfg, 'audit', 'show', 'mms-to-cpm/nobody/none');
  t.is(missing.code, 1);
  t.regex(missing.err, /no audit record for mms-to-cpm\/nobody\/none/);
});
