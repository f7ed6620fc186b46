/**
 * Payload encryption with the embedded Temporal server and nothing configured: the IWF generates
 * its key once into <dataDir>/payload-keys.json (0600) and says so, starts the Web UI with
 * `--ui-codec-endpoint` pointing at its codec endpoint (which grants the UI's origin CORS), and a
 * restart, the operator CLI and the stored histories all use that same key.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runCli } from '../../cli/main.js';
import { loadConfig } from '../../worker/config.js';
import { startIwf, type RunningIwf } from '../../worker/iwf.js';
import { createLogger } from '../../worker/logger.js';
import { ENCRYPTED_ENCODING, KEY_ID_METADATA } from '../../worker/payload-codec.js';
import { mmsToCpmWorkflowId, type AuditView } from '../../workflows/messages.js';
import { testConfigTree, workflowBundle } from '../helpers/iwf.js';
import { forwardReq, sendMm4, startFakeMmsc } from '../helpers/mmsc.js';
import { freePort } from '../helpers/ports.js';
import { startSipPeer } from '../helpers/sip-peer.js';

const dec = new TextDecoder();

test('embedded Temporal: a key is generated once, the UI gets our codec endpoint, restarts and the CLI reuse the key', async (t) => {
  t.timeout(240_000);
  const mmsc = await startFakeMmsc();
  const peer = await startSipPeer(() => 202);
  const dataDir = mkdtempSync(join(tmpdir(), 'iwf-privacy-embedded-'));
  const uiPort = await freePort();
  const base = testConfigTree({ temporalAddress: '', mmscPort: mmsc.port, outboundProxyPort: peer.port });
  const temporalTree = base.temporal as Record<string, unknown>;
  const configFile = join(dataDir, 'iwf.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      ...base,
      dataDir,
      temporal: {
        taskQueue: temporalTree.taskQueue,
        embedded: { port: await freePort(), uiPort, ui: true },
        codec: { listen: '127.0.0.1:0' },
      },
    }),
  );
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const start = async () =>
    startIwf(loadConfig(['--config', configFile], {}), createLogger('info', { destination: sink }), {
      workflowBundle: await workflowBundle(),
    });
  let iwf: RunningIwf | undefined;
  try {
    iwf = await start();
    const keysFile = join(dataDir, 'payload-keys.json');
    t.is(statSync(keysFile).mode & 0o777, 0o600);
    const keys = JSON.parse(readFileSync(keysFile, 'utf8')) as Record<string, string>;
    const [keyId] = Object.keys(keys);
    t.is(Buffer.from(keys[keyId], 'base64').length, 32);
    t.is(lines.filter((l) => l.includes('generated the payload encryption key')).length, 1);

    // The UI was started with our endpoint and may call it from its origin.
    const codecUrl = `http://127.0.0.1:${iwf.codec!.port}`;
    const settings = (await (await fetch(`${iwf.uiUrl}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
    t.is(settings.Codec?.Endpoint, codecUrl);
    const pre = await fetch(`${codecUrl}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: `http://127.0.0.1:${uiPort}`, 'Access-Control-Request-Method': 'POST' },
    });
    t.is(pre.headers.get('access-control-allow-origin'), `http://127.0.0.1:${uiPort}`);

    mmsc.answerReports(iwf.mm4.port);
    const sent = await sendMm4(iwf.mm4.port, forwardReq({ messageId: 'M-emb', deliveryReport: false }), {
      from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
      to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
    });
    t.true(sent.ok);
    const id = mmsToCpmWorkflowId('system-user@mms.mnc001.mcc001.gprs', 'M-emb');
    t.like(await iwf.client.workflow.getHandle(id).result(), { result: 'delivered' });
    const history = await iwf.client.workflow.getHandle(id).fetchHistory();
    const input = history.events![0].workflowExecutionStartedEventAttributes!.input!.payloads![0];
    t.is(dec.decode(input.metadata!.encoding), ENCRYPTED_ENCODING);
    t.is(dec.decode(input.metadata![KEY_ID_METADATA]), keyId);
    await iwf.stop();

    // A restart reads the same file (nothing generated again) and the old delivery.
    iwf = await start();
    t.is(lines.filter((l) => l.includes('generated the payload encryption key')).length, 1);
    t.deepEqual(JSON.parse(readFileSync(keysFile, 'utf8')), keys);
    t.like(await iwf.client.workflow.getHandle(id).result(), { result: 'delivered' });

    // The operator CLI with the same configuration finds the key in dataDir.
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(
      ['--config', configFile, 'deliveries', 'show', id, '--json'],
      { print: (l) => out.push(l) },
      { print: (l) => err.push(l) },
    );
    t.is(code, 0, err.join('\n'));
    t.is((JSON.parse(out.join('\n')) as { audit?: AuditView }).audit?.state, 'done');
  } finally {
    await iwf?.stop();
    await peer.close();
    await mmsc.close();
  }
});
