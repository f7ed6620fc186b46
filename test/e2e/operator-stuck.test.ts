/**
 * Stuck deliveries and the CLI's edges, against a running IWF and a real dev server: CPM users
 * offline (480) so MMS -> CPM deliveries wait in retryWait, a CPM -> MMS delivery waiting for its
 * delivery report; `iwf deliveries stuck` lists them, `retry --all-stuck --dry-run` sends nothing,
 * `retry --all-stuck` retries each through the operator update (and counts the refusal of the one
 * whose state takes no retry); reroute to an unknown peer and unknown states are usage errors (2)
 * that touch nothing; list is newest start first; `iwf audit export | head -1` ends quietly.
 *
 * Time is the CLI's injected clock (runCli's `now`) around the entry times the histories record:
 * nothing here waits for a bound to pass.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSipEndpoint } from '../../clients/sip/endpoint.js';
import { runCli } from '../../cli/main.js';
import { stateSince, STATE_NAMES, WAITING_STATES, type StuckDelivery } from '../../cli/deliveries.js';
import { cpmDeliveryId } from '../../ingress/sip-server.js';
import { mmsToCpmWorkflowId } from '../../workflows/messages.js';
import { forwardReq, sendMm4 } from '../helpers/mmsc.js';
import { waitFor } from '../helpers/ports.js';
import { startMmsToCpmRig } from '../helpers/rig.js';

const ORIGIN = 'system-user@mms.mnc001.mcc001.gprs';
const ONLINE = '+12025550177'; // the one CPM user who answers 202
let env: Awaited<ReturnType<typeof startMmsToCpmRig>>;
let cfg: string;
let noPeersCfg: string;
const ids = {
  a: mmsToCpmWorkflowId(ORIGIN, 'M-stuck-a'),
  b: mmsToCpmWorkflowId(ORIGIN, 'M-stuck-b'),
  cpm: cpmDeliveryId('tel:+12025550101', 'stuck-cpm'),
  done: mmsToCpmWorkflowId(ORIGIN, 'M-stuck-done'),
};

test.before(async () => {
  env = await startMmsToCpmRig({
    answer: (req) => (req.uri.includes(ONLINE) ? 202 : 480),
    iwf: {
      retry: { maxAttempts: 5, initialInterval: '1h' },
      mm4Ack: { timeout: '1h', maxAttempts: 3 },
      // The test backoff is capped at 2s; here a delivery waits in retryWait until it is retried.
      configure: (tree) => void ((tree.delivery as { retry: Record<string, unknown> }).retry.maxInterval = '1h'),
    },
  });
  env.mmsc.answerForwards(env.iwf.mm4.port); // CPM -> MMS: .RES Ok, then the delivery waits for its report
  // The CLI gets the IWF's settings from a configuration file, as an operator's would be.
  const dir = mkdtempSync(join(tmpdir(), 'iwf-cli-'));
  const temporal = {
    address: env.temporal.address,
    ...(process.env.IWF_TEST_ENCRYPTION === '1' ? {} : { encryption: { enabled: false } }),
  };
  const peer = (name: string, domain: string) => ({ name, domains: [domain], smtp: '127.0.0.1:2526' });
  cfg = join(dir, 'iwf.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      temporal,
      mm4: { peers: [peer('operator-a', 'mms.mnc001.mcc001.gprs'), peer('operator-b', 'mms.example.org')] },
      audit: { file: env.iwf.config.audit.file },
    }),
  );
  noPeersCfg = join(dir, 'no-peers.json');
  writeFileSync(noPeersCfg, JSON.stringify({ temporal }));

  for (const m of ['M-stuck-a', 'M-stuck-b'])
    await sendMm4(env.iwf.mm4.port, forwardReq({ messageId: m, deliveryReport: false }), {
      from: 'a@b',
      to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
    });
  await sendCpm();
  await sendMm4(env.iwf.mm4.port, forwardReq({ messageId: 'M-stuck-done', deliveryReport: false }), {
    from: 'a@b',
    to: [`${ONLINE}/TYPE=PLMN@mms.iwf.example.net`],
  });
  await env.iwf.client.workflow.getHandle(ids.done).result();
  for (const [id, state] of [
    [ids.a, 'retryWait'],
    [ids.b, 'retryWait'],
    [ids.cpm, 'awaitingReport'],
  ])
    await waitFor(`${id} in ${state}`, async () => ((await entry(id))?.state === state ? true : undefined));
});
test.after.always(async () => {
  await env?.stop();
});

/** A CPM -> MMS text asking for a delivery notification, as the S-CSCF hands it over. */
async function sendCpm() {
  const core = await createSipEndpoint({ host: '127.0.0.1', port: 0 });
  try {
    const cpim = [
      'From: <tel:+12025550101>',
      'To: <tel:+4915112345600>',
      'NS: imdn <urn:ietf:params:imdn>',
      'imdn.Message-ID: stuck-cpm',
      'imdn.Disposition-Notification: positive-delivery',
      '',
      'Content-Type: text/plain',
      '',
      'hi',
    ].join('\r\n');
    const res = await core.sendRequest(
      {
        method: 'MESSAGE',
        uri: 'tel:+4915112345600',
        headers: [
          { name: 'From', value: '<tel:+12025550101>;tag=s' },
          { name: 'To', value: '<tel:+4915112345600>' },
          { name: 'Call-ID', value: 'stuck-cpm' },
          { name: 'CSeq', value: '1 MESSAGE' },
          { name: 'P-Asserted-Identity', value: '<tel:+12025550101>' },
          { name: 'Content-Type', value: 'message/cpim' },
        ],
        body: Buffer.from(cpim),
      },
      { host: '127.0.0.1', port: env.iwf.sip.port, transport: 'udp' },
    );
    if (res.status !== 202) throw new Error(`MESSAGE answered ${res.status}`);
  } finally {
    await core.close();
  }
}

const entry = (id: string) => stateSince(env.iwf.client, id);

async function iwf(args: string[], now?: number) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    ['--config', cfg, ...args],
    { print: (l) => out.push(l) },
    { print: (l) => err.push(l) },
    now === undefined ? {} : { now: () => now },
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}
const mine = (rows: StuckDelivery[]) => rows.filter((r) => Object.values(ids).includes(r.id));

test.serial('the waiting states come from the machines', (t) => {
  t.deepEqual([...WAITING_STATES], ['awaitingImdn', 'awaitingRead', 'awaitingReport', 'awaitingRes', 'retryWait']);
  for (const s of WAITING_STATES) t.true(STATE_NAMES.includes(s));
  t.true(STATE_NAMES.includes('routing') && !WAITING_STATES.includes('routing'));
});

test.serial(
  'stuck lists the waiting deliveries with the time they entered their state, bounded both ways',
  async (t) => {
    const all = await iwf(['deliveries', 'stuck', '--older-than', '0s', '--json']);
    t.is(all.code, 0, all.err);
    const rows = mine(JSON.parse(all.out) as StuckDelivery[]);
    t.deepEqual(rows.map((r) => r.id).sort(), [ids.a, ids.b, ids.cpm].sort(), 'the finished delivery is not stuck');
    for (const r of rows) {
      const e = await entry(r.id);
      t.is(r.since, e!.at.toISOString(), 'since = the history event that set IwfState');
      t.is(r.state, e!.state);
      t.true(r.since >= r.started);
      t.is(r.sinceFrom, 'trail');
      // Without a worker's answer the history's last workflow task is the measure: never earlier.
      const fromHistory = await stateSince(env.iwf.client, r.id, { query: false });
      t.like(fromHistory, { state: r.state, from: 'history' });
      t.true(fromHistory!.at.getTime() >= Date.parse(r.since));
    }
    t.like(
      rows.find((r) => r.id === ids.cpm),
      { direction: 'cpm-to-mms', state: 'awaitingReport', peer: 'operator-a' },
    );
    t.like(
      rows.find((r) => r.id === ids.a),
      { direction: 'mms-to-cpm', state: 'retryWait', peer: 'operator-a' },
    );

    // The bound, on the CLI's clock: 10 minutes after the latest entry, `--older-than 10m` takes every
    // one (at the bound counts), `11m` none of those that entered within the last minute before it.
    const latest = Math.max(...rows.map((r) => Date.parse(r.since)));
    const at = latest + 10 * 60_000;
    const in10 = mine(
      JSON.parse((await iwf(['deliveries', 'stuck', '--older-than', '10m', '--json'], at)).out) as StuckDelivery[],
    );
    t.deepEqual(in10.map((r) => r.id).sort(), [ids.a, ids.b, ids.cpm].sort());
    t.true(in10.every((r) => r.forSeconds >= 600));
    const in11 = mine(
      JSON.parse((await iwf(['deliveries', 'stuck', '--older-than', '11m', '--json'], at)).out) as StuckDelivery[],
    );
    t.deepEqual(
      in11.map((r) => r.id),
      rows.filter((r) => Date.parse(r.since) <= at - 11 * 60_000).map((r) => r.id),
    );
    t.false(in11.some((r) => r.since === new Date(latest).toISOString()));

    const none = await iwf(['deliveries', 'stuck', '--peer', 'operator-b']);
    t.is(none.code, 0, none.err);
    t.is(none.out, 'no deliveries are stuck');
    const table = await iwf(['deliveries', 'stuck', '--older-than', '0s', '--peer', 'operator-a']);
    t.regex(table.out, /^WORKFLOW ID\s+DIRECTION\s+STATE\s+PEER\s+IN STATE SINCE\s+FOR\s+STARTED/);
    t.false(/\+1202555/.test(table.out), 'no phone numbers in the listing');
  },
);

test.serial(
  'retry --all-stuck --dry-run sends nothing; retry --all-stuck retries each, counting the refusal',
  async (t) => {
    const before = {
      seen: env.peer.seen.length,
      a: await entry(ids.a),
      b: await entry(ids.b),
      cpm: await entry(ids.cpm),
    };
    const dry = await iwf(['deliveries', 'retry', '--all-stuck', '--older-than', '0s', '--dry-run']);
    t.is(dry.code, 0, dry.err);
    for (const id of [ids.a, ids.b, ids.cpm]) t.true(dry.out.includes(`would retry  ${id}`), dry.out);
    t.regex(dry.out, /nothing was sent$/);
    t.is(env.peer.seen.length, before.seen);
    t.deepEqual(await entry(ids.a), before.a, 'the history has no new state');
    t.deepEqual(await entry(ids.cpm), before.cpm);

    const bulk = await iwf(['deliveries', 'retry', '--all-stuck', '--older-than', '0s', '--json']);
    t.is(bulk.code, 1, 'a refusal makes the exit 1');
    const res = JSON.parse(bulk.out) as {
      accepted: number;
      refused: number;
      deliveries: { id: string; result: string; detail: string }[];
    };
    const byId = Object.fromEntries(res.deliveries.map((d) => [d.id, d]));
    t.like(byId[ids.a], { result: 'accepted', detail: 'now in state routing' });
    t.like(byId[ids.b], { result: 'accepted' });
    t.like(byId[ids.cpm], { result: 'refused' });
    t.regex(byId[ids.cpm].detail, /'operator.retry' is not possible in state 'awaitingReport'/);
    t.is(res.refused, res.deliveries.filter((d) => d.result === 'refused').length);
    t.is(res.accepted, res.deliveries.filter((d) => d.result === 'accepted').length);
    t.true(res.accepted >= 2 && res.refused >= 1);

    // Each accepted retry is a new SIP attempt (480 again), then a new entry into retryWait.
    await waitFor('two more attempts', () => (env.peer.seen.length >= before.seen + 2 ? true : undefined));
    for (const id of [ids.a, ids.b]) {
      const was = id === ids.a ? before.a! : before.b!;
      const now = await waitFor(`${id} back in retryWait`, async () => {
        const e = await entry(id);
        return e?.state === 'retryWait' && e.at > was.at ? e : undefined;
      });
      t.true(now.at > was.at, 'stuck measures from the new entry');
    }
    t.deepEqual(await entry(ids.cpm), before.cpm, 'the refused one is untouched');

    const text = await iwf(['deliveries', 'retry', '--all-stuck', '--older-than', '0s', '--peer', 'operator-a']);
    t.is(text.code, 1);
    t.regex(text.out, new RegExp(`^refused  ${ids.cpm.replace(/[/+.]/g, '\\$&')}  `, 'm'));
    t.regex(text.out, /^\d+ accepted, \d+ refused$/m);
  },
);

test.serial('reroute to a peer not configured and unknown states are usage errors (2) that send nothing', async (t) => {
  for (const id of [ids.a, ids.b])
    // the last bulk retry's attempts have ended
    await waitFor(`${id} in retryWait`, async () => ((await entry(id))?.state === 'retryWait' ? true : undefined));
  const before = { seen: env.mmsc.received.length, cpm: await entry(ids.cpm), a: await entry(ids.a) };
  const bad = await iwf(['deliveries', 'reroute', ids.cpm, '--peer', 'nosuch']);
  t.is(bad.code, 2);
  t.is(bad.err, "iwf: --peer: 'nosuch' is not a configured MMSC peer; mm4.peers: operator-a, operator-b");
  const bare = await runCli(
    ['--config', noPeersCfg, 'deliveries', 'reroute', ids.cpm, '--peer', 'operator-a'],
    {
      print: () => undefined,
    },
    { print: () => undefined },
  );
  t.is(bare, 2, 'a configuration without peers names none');
  t.is(env.mmsc.received.length, before.seen);
  t.deepEqual(await entry(ids.cpm), before.cpm, 'the delivery is untouched');

  const state = await iwf(['deliveries', 'list', '--state', 'nosuchstate']);
  t.is(state.code, 2);
  t.regex(state.err, /--state: 'nosuchstate' is not a state; valid: .*\bawaitingRes\b.*\bretryWait\b/);
  for (const args of [
    ['deliveries', 'list', '--limit', '0'],
    ['deliveries', 'list', '--limit', 'ten'],
    ['deliveries', 'list', '--direction', 'sideways'],
    ['deliveries', 'list', '--since', 'yesterday'],
    ['deliveries', 'list', '--bogus'],
    ['deliveries', 'stuck', '--older-than', '5x'],
    ['deliveries', 'stuck', '--peer', 'nosuch'],
    ['deliveries', 'retry'],
    ['deliveries', 'retry', ids.a, '--all-stuck'],
    ['deliveries', 'retry', ids.a, '--dry-run'],
    ['deliveries', 'abandon', ids.a, '--reason', ' '],
    ['audit', 'export', '--since', '3 weeks'],
    ['nosuchcommand'],
  ]) {
    const r = await iwf(args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    t.truthy(r.err, `${args.join(' ')} says why`);
  }
  t.deepEqual(await entry(ids.a), before.a, 'nothing was retried or abandoned');
});

test.serial('the CLI connects with the envconfig settings the IWF uses: an API key means TLS', async (t) => {
  const quiet = { print: () => undefined };
  const err: string[] = [];
  const run = (extra: Record<string, string>) =>
    runCli(
      ['--config', cfg, 'deliveries', 'list', '--limit', '1'],
      quiet,
      { print: (l) => err.push(l) },
      {
        env: { ...process.env, ...extra },
      },
    );
  // The dev server speaks plain gRPC: a TLS handshake with it fails, so the key was not ignored.
  t.is(await run({ TEMPORAL_API_KEY: 'test-key' }), 1);
  t.regex(err.join('\n'), new RegExp(`cannot reach Temporal at ${env.temporal.address.replace(/\./g, '\\.')}`));
  t.is(await run({ TEMPORAL_API_KEY: 'test-key', TEMPORAL_TLS: 'false' }), 0, 'TLS off as the profile says');
});

test.serial('deliveries list is newest start first, finished ones among running ones', async (t) => {
  const r = await iwf(['deliveries', 'list', '--since', '1h', '--json']);
  t.is(r.code, 0, r.err);
  const rows = (JSON.parse(r.out) as { id: string; started: string; status: string }[]).filter((x) =>
    Object.values(ids).includes(x.id),
  );
  t.is(rows.length, 4);
  // The finished one started last: SQL visibility would list it after the running ones.
  t.is(rows[0].id, ids.done);
  t.is(rows[0].status, 'COMPLETED');
  const started = rows.map((x) => x.started);
  t.deepEqual(started, [...started].sort().reverse());
  const one = await iwf(['deliveries', 'list', '--since', '1h', '--limit', '1', '--json']);
  t.is((JSON.parse(one.out) as { id: string }[])[0].id, ids.done, '--limit keeps the newest');
});

test.serial('`iwf audit export | head -1` ends quietly with 0', async (t) => {
  // Enough records that the export outlives the reader: head exits after its first line.
  const real = await waitFor('audit record', () => {
    const line = readFileSync(env.iwf.config.audit.file, 'utf8')
      .split('\n')
      .find((l) => l.includes('M-stuck-done'));
    return line ? (JSON.parse(line) as Record<string, unknown>) : undefined;
  });
  const dir = mkdtempSync(join(tmpdir(), 'iwf-export-'));
  const file = join(dir, 'audit.jsonl');
  const lines = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ ...real, runId: `run-${i}` }));
  writeFileSync(file, lines.join('\n') + '\n');
  const exportCfg = join(dir, 'iwf.json');
  writeFileSync(exportCfg, JSON.stringify({ temporal: { encryption: { enabled: false } }, audit: { file } }));

  const bin = fileURLToPath(new URL('../../bin/iwf.mjs', import.meta.url));
  const iwfProc = spawn(process.execPath, [bin, '--config', exportCfg, 'audit', 'export', '--since', '1h'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const head = spawn('head', ['-1'], { stdio: [iwfProc.stdout, 'pipe', 'inherit'] });
  iwfProc.stdout.destroy(); // head holds the read end now; ours would keep the pipe open after head exits
  let err = '';
  let first = '';
  iwfProc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  head.stdout.on('data', (d: Buffer) => (first += d.toString()));
  const [code] = await Promise.all([
    new Promise<number | null>((resolve) => iwfProc.once('exit', (c) => resolve(c))),
    new Promise<void>((resolve) => head.once('exit', () => resolve())),
  ]);
  t.is(first.trim().split('\n').length, 1);
  t.like(JSON.parse(first) as object, { workflowId: ids.done, runId: 'run-0' });
  t.is(code, 0);
  t.is(err, '', 'no EPIPE stack trace');
});
