/**
 * Phone numbers out of Temporal's storage and the logs, all real: a Temporal dev server, the IWF
 * with payload encryption, an MMSC over SMTP and a SIP peer. After full MMS -> CPM deliveries the
 * raw history (a plain client, no codec) holds no number and only encrypted payloads; the codec
 * endpoint (HTTP, as the Web UI calls it) and the operator CLI read it in clear; a key rotation
 * keeps old deliveries readable; the log lines of the whole run are masked.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { runCli } from '../../cli/main.js';
import { buildConfig, ConfigError } from '../../worker/config.js';
import type { DevServer } from '../../worker/dev-server.js';
import { startIwf, type RunningIwf } from '../../worker/iwf.js';
import { createLogger } from '../../worker/logger.js';
import { findTemporalCli } from '../../worker/temporal-cli.js';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING, KEY_ID_METADATA } from '../../worker/payload-codec.js';
import { mmsToCpmWorkflowId, operatorUpdate, type AuditView } from '../../workflows/messages.js';
import { startTestTemporal, testConfigTree, workflowBundle } from '../helpers/iwf.js';
import { forwardReq, sendMm4, startFakeMmsc, type FakeMmsc } from '../helpers/mmsc.js';
import { waitFor } from '../helpers/ports.js';
import { startSipPeer } from '../helpers/sip-peer.js';

const ORIGIN = 'system-user@mms.mnc001.mcc001.gprs';
const FROM = '12025550101';
const TO = '12025550199';
/** A recipient whose CPM client is offline (480): the delivery waits in retryWait. */
const OFFLINE = '12025550480';
/**
 * A number used here, whole or by its last 7 digits, would be a leak. Only these numbers: the
 * SDK's own timestamps in a history (event times, local activity markers) may hold any other run.
 */
const LEAK = /(?:202)?55(?:50101|50199|50480)/;
const dec = new TextDecoder();
const TOKEN = 'codec-test-token';
type Json = { metadata?: Record<string, string>; data?: string };

const keyA = randomBytes(32).toString('base64');
const keyB = randomBytes(32).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'iwf-privacy-'));
const keysFile = join(dir, 'payload-keys.yaml');
const lines: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    cb();
  },
});

let temporal: DevServer;
let mmsc: FakeMmsc;
let peer: Awaited<ReturnType<typeof startSipPeer>>;
let plain: Client;
let tree: (keyId: string) => Record<string, unknown>;

test.before(async () => {
  temporal = await startTestTemporal();
  mmsc = await startFakeMmsc();
  peer = await startSipPeer((req) => (req.uri.includes(OFFLINE) ? 480 : 202));
  plain = new Client({ connection: await Connection.connect({ address: temporal.address }) });
  tree = (keyId) => {
    const base = testConfigTree({
      temporalAddress: temporal.address,
      mmscPort: mmsc.port,
      outboundProxyPort: peer.port,
      encryption: { keyId, keysFile },
      // Retries wait long: the offline recipient's delivery stays in retryWait until abandoned.
      retry: { maxAttempts: 5, initialInterval: '1h' },
    });
    (base.temporal as Record<string, unknown>).codec = { listen: '127.0.0.1:0', token: TOKEN };
    return base;
  };
});

test.after.always(async () => {
  await plain?.connection.close();
  await peer?.close();
  await mmsc?.close();
  await temporal?.stop();
});

/** The first IWF of this process installs the Temporal runtime logger: workflow logs go to `sink` too. */
async function iwfWith(keyId: string): Promise<RunningIwf> {
  const config = buildConfig(tree(keyId), {});
  const iwf = await startIwf(config, createLogger('debug', { destination: sink }), {
    workflowBundle: await workflowBundle(),
  });
  mmsc.answerReports(iwf.mm4.port);
  return iwf;
}

async function send(iwf: RunningIwf, messageId: string, to = TO): Promise<WorkflowHandle> {
  const address = `+${to}/TYPE=PLMN@mms.iwf.example.net`;
  const sent = await sendMm4(iwf.mm4.port, forwardReq({ messageId, deliveryReport: false, to: [address] }), {
    from: `+${FROM}/TYPE=PLMN@mms.mnc001.mcc001.gprs`,
    to: [address],
  });
  if (!sent.ok) throw new Error(sent.response);
  return iwf.client.workflow.getHandle(mmsToCpmWorkflowId(ORIGIN, messageId));
}

async function deliver(iwf: RunningIwf, messageId: string): Promise<WorkflowHandle> {
  const handle = await send(iwf, messageId);
  const outcome = (await handle.result()) as { result: string };
  if (outcome.result !== 'delivered') throw new Error(JSON.stringify(outcome));
  return handle;
}

/** Every field of a history as text; bytes as UTF-8, so a payload in clear would show its numbers. */
function asText(v: unknown, depth = 0): string {
  if (depth > 40 || v === null || v === undefined) return '';
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (typeof v === 'function') return '';
  if (typeof v !== 'object') return `${v as string}`;
  if (Array.isArray(v)) return v.map((x) => asText(x, depth + 1)).join(' ');
  return Object.entries(v)
    .map(([k, x]) => `${k}=${asText(x, depth + 1)}`)
    .join(' ');
}

/** The payloads in a history (anything with metadata.encoding), with where they are; search attributes aside. */
function payloadsOf(v: unknown, path = '', out: { path: string; p: Payload }[] = []) {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return out;
  const m = (v as Payload).metadata;
  if (m && typeof m === 'object' && 'encoding' in m) out.push({ path, p: v });
  else
    for (const [k, x] of Object.entries(v))
      if (k !== 'searchAttributes' && k !== 'indexedFields') payloadsOf(x, `${path}.${k}`, out);
  return out;
}

async function rawHistory(workflowId: string) {
  return plain.workflow.getHandle(workflowId).fetchHistory();
}

let first: { iwf: RunningIwf; handle: WorkflowHandle };

test.serial('the raw history holds no phone number and only encrypted payloads', async (t) => {
  writeFileSync(keysFile, `a: ${keyA}\n`, { mode: 0o600 });
  const iwf = await iwfWith('a');
  const handle = await deliver(iwf, 'M-priv-a');
  first = { iwf, handle };
  const history = await rawHistory(handle.workflowId);
  t.true((history.events?.length ?? 0) > 10);
  t.false(LEAK.test(asText(history)), 'no number anywhere in the stored history');
  // Temporal's own marker metadata, written by the SDK core and not through the codec: a patch
  // marker's patch id (patched()), a local activity's sequence number, type, attempt and times.
  // Checked to be exactly that, then left aside; the local activities' results are encrypted.
  const all = payloadsOf(history);
  const patches = all.filter(({ path }) => /\.markerRecordedEventAttributes\.details\.(patch-data|data)\./.test(path));
  t.true(patches.length >= 2, 'the patch marker and the local activities');
  for (const { path, p } of patches) {
    const meta = JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString()) as Record<string, unknown>;
    const known = path.includes('patch-data')
      ? ['id', 'deprecated']
      : ['seq', 'attempt', 'activity_id', 'activity_type', 'complete_time', 'backoff', 'original_schedule_time'];
    t.deepEqual(
      Object.keys(meta).filter((k) => !known.includes(k)),
      [],
      path,
    );
  }
  const payloads = all.filter((x) => !patches.includes(x));
  t.true(payloads.length >= 10, `${payloads.length} payloads`);
  for (const { path, p } of payloads) {
    t.is(dec.decode(p.metadata!.encoding), ENCRYPTED_ENCODING, path);
    t.is(dec.decode(p.metadata![KEY_ID_METADATA]), 'a', path);
  }
  // A plain client cannot read the result: it does not have the key.
  await t.throwsAsync(plain.workflow.getHandle(handle.workflowId).result());
  // Ours reads results and queries in clear (the codec decrypts).
  const audit = await handle.query<AuditView>('audit');
  t.is(audit.state, 'done');
});

test.serial(
  'the codec endpoint decodes the stored input, over HTTP as the UI calls it and for the temporal CLI',
  async (t) => {
    const { iwf, handle } = first;
    const history = await rawHistory(handle.workflowId);
    const started = history.events![0].workflowExecutionStartedEventAttributes!;
    const input = started.input!.payloads!;
    const body = JSON.stringify({
      payloads: input.map((p) => ({
        metadata: Object.fromEntries(
          Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
        ),
        data: Buffer.from(p.data!).toString('base64'),
      })),
    });
    const url = `http://${iwf.codec!.host}:${iwf.codec!.port}/decode`;
    // The origin of a UI named in temporal.codec.corsOrigins? None in this config: no CORS grant.
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-Namespace': 'default',
        Origin: 'http://evil.example',
        Authorization: `Bearer ${TOKEN}`,
      },
      body,
    });
    t.is(res.status, 200);
    t.is(res.headers.get('access-control-allow-origin'), null);
    const decoded = (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    const clear = decoded.payloads.map((p) =>
      defaultPayloadConverter.fromPayload({
        metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
        data: Buffer.from(p.data, 'base64'),
      }),
    );
    const text = JSON.stringify(clear);
    t.true(text.includes(`+${TO}/TYPE=PLMN@mms.iwf.example.net`), 'the recipient, in clear');
    t.true(text.includes('M-priv-a'));
    // The temporal CLI, an independent codec client: `workflow show` decodes through the endpoint.
    const cli = (...extra: string[]) =>
      promisify(execFile)(
        findTemporalCli(),
        ['workflow', 'show', '-w', handle.workflowId, '--address', temporal.address, '-o', 'json', ...extra],
        { maxBuffer: 16 * 1024 * 1024 },
      );
    const withCodec = await cli(
      '--codec-endpoint',
      `http://${iwf.codec!.host}:${iwf.codec!.port}`,
      '--codec-auth',
      `Bearer ${TOKEN}`,
    );
    const shown = JSON.parse(withCodec.stdout) as {
      events: { workflowExecutionStartedEventAttributes?: { input: { payloads: Json[] } } }[];
    };
    const [decodedInput] = shown.events[0].workflowExecutionStartedEventAttributes!.input.payloads;
    t.is(Buffer.from(decodedInput.metadata!.encoding, 'base64').toString(), 'json/plain', 'decoded by our endpoint');
    t.true(Buffer.from(decodedInput.data!, 'base64').toString().includes(`+${TO}/TYPE=PLMN@mms.iwf.example.net`));
    const without = await cli();
    t.false(LEAK.test(without.stdout), 'without the codec the CLI shows only ciphertext');
    t.true(without.stdout.includes(Buffer.from(ENCRYPTED_ENCODING).toString('base64')));
  },
);

test.serial('UI current details and summary show numbers masked, also in free text from the operator', async (t) => {
  const handle = await send(first.iwf, 'M-priv-wait', OFFLINE);
  await waitFor('retryWait', async () =>
    (await handle.query<AuditView>('audit')).state === 'retryWait' ? true : undefined,
  );
  const reason = 'customer +12025550177 (tel:+12025550178) asked to stop';
  await handle.executeUpdate(operatorUpdate, { args: [{ type: 'operator.abandon', reason }] });
  await handle.result();
  // What the UI's "current details" panel shows: the __temporal_workflow_metadata query.
  const meta = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  t.regex(meta.currentDetails ?? '', /finished/);
  t.true(meta.currentDetails!.includes('customer +120255***** (tel:+120255*****) asked to stop'), meta.currentDetails);
  t.false(LEAK.test(meta.currentDetails!));
  const desc = await handle.describe();
  t.regex((await desc.staticSummary()) ?? '', /^MMS→CPM M-priv-wait from operator-a to 1 recipient/);
  // The audit query keeps the clear reason for the operator (read through the codec).
  const audit = await handle.query<AuditView>('audit');
  t.true(audit.trail.some((e) => e.detail?.includes(reason)));
  t.false(LEAK.test(asText(await rawHistory(handle.workflowId))), 'the update and its reason are encrypted too');
});

test.serial('the operator CLI shows the encrypted delivery with the keys from the configuration', async (t) => {
  const { handle } = first;
  const configFile = join(dir, 'iwf.json');
  writeFileSync(configFile, JSON.stringify(tree('a')));
  const out: string[] = [];
  const err: string[] = [];
  const cli = (file: string) =>
    runCli(
      ['--config', file, 'deliveries', 'show', handle.workflowId, '--json'],
      { print: (l) => out.push(l) },
      {
        print: (l) => err.push(l),
      },
    );
  t.is(await cli(configFile), 0, err.join('\n'));
  const shown = JSON.parse(out.join('\n')) as { audit?: AuditView };
  t.is(shown.audit?.state, 'done');
  t.true(shown.audit!.trail.length > 3);
  // Without the keys the same command cannot read the delivery's audit query.
  const clearConfig = join(dir, 'iwf-nokeys.json');
  writeFileSync(
    clearConfig,
    JSON.stringify({ ...tree('a'), temporal: { address: temporal.address, encryption: { enabled: false } } }),
  );
  out.length = 0;
  err.length = 0;
  const code = await cli(clearConfig);
  t.is(code, 1, out.join('\n'));
  t.regex(err.join('\n'), /binary\/encrypted/);
});

test.serial('key rotation: new deliveries use the new key, old ones stay readable and replayable', async (t) => {
  await first.iwf.stop();
  writeFileSync(keysFile, `a: ${keyA}\nb: ${keyB}\n`, { mode: 0o600 });
  const iwf = await iwfWith('b');
  try {
    const handle = await deliver(iwf, 'M-priv-b');
    const ids = (h: Awaited<ReturnType<typeof rawHistory>>) =>
      new Set(
        payloadsOf(h)
          .filter(({ path }) => !/\.markerRecordedEventAttributes\.details\.(patch-data|data)\./.test(path))
          .map(({ p }) => dec.decode(p.metadata![KEY_ID_METADATA] ?? new Uint8Array())),
      );
    const newer = await rawHistory(handle.workflowId);
    const older = await rawHistory(first.handle.workflowId);
    t.deepEqual([...ids(newer)], ['b']);
    t.deepEqual([...ids(older)], ['a']);
    t.false(LEAK.test(asText(newer)));
    // The rotated IWF still reads the delivery written with key a.
    t.like(await iwf.client.workflow.getHandle(first.handle.workflowId).result(), { result: 'delivered' });
    // Replay needs the codec too; with it both histories replay against the current code.
    const codec = new AesGcmPayloadCodec({
      keyId: 'b',
      keys: new Map([
        ['a', Buffer.from(keyA, 'base64')],
        ['b', Buffer.from(keyB, 'base64')],
      ]),
    });
    for (const [h, id] of [
      [older, first.handle.workflowId],
      [newer, handle.workflowId],
    ] as const)
      await t.notThrowsAsync(
        Worker.runReplayHistory(
          { workflowBundle: await workflowBundle(), dataConverter: { payloadCodecs: [codec] } },
          h,
          id,
        ),
      );
    // Only key b, a gone: the old delivery can no longer be read (keep old keys for as long as histories live).
    writeFileSync(keysFile, `b: ${keyB}\n`, { mode: 0o600 });
    const onlyB = new Client({
      connection: plain.connection,
      dataConverter: {
        payloadCodecs: [new AesGcmPayloadCodec({ keyId: 'b', keys: new Map([['b', Buffer.from(keyB, 'base64')]]) })],
      },
    });
    await t.throwsAsync(onlyB.workflow.getHandle(first.handle.workflowId).result(), {
      message: /key 'a'|not among the configured keys/,
    });
  } finally {
    await iwf.stop();
  }
});

test.serial('the log lines of the whole run are masked, workflow "delivery step" lines included', (t) => {
  const steps = lines.filter((l) => l.includes('"delivery step"'));
  // The operator's reason went through the workflow logger: there, and masked.
  t.true(steps.some((l) => l.includes('customer +120255***** (tel:+120255*****) asked to stop')));
  t.true(steps.length >= 6, `${steps.length} delivery step lines`);
  t.true(lines.some((l) => l.includes('"MM4_forward.REQ accepted"')));
  const leaks = lines.filter((l) => LEAK.test(l));
  t.deepEqual(leaks, []);
});

test.serial('an external cluster without keys is refused at start with a ConfigError', async (t) => {
  const config = buildConfig({ ...tree('a'), temporal: { address: temporal.address } }, {});
  await t.throwsAsync(startIwf(config, createLogger('silent'), { workflowBundle: await workflowBundle() }), {
    instanceOf: ConfigError,
    message: /temporal\.encryption: an external Temporal cluster needs keysFile/,
  });
});
