/**
 * The audit record of a delivery is written once, even when the IWF process dies
 * while writing it. PostgreSQL (the production store) holds a lock on the audit table, so the
 * worker's INSERT is provably in flight when the process is SIGKILLed; a second process retries
 * the activity, and the primary key (workflow id, run id) makes the retry a no-op if the dead
 * worker's statement committed after all.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { Connection, Client } from '@temporalio/client';
import { postgresAuditStore } from '../../clients/audit-store.js';
import { mmsToCpmWorkflowId } from '../../workflows/messages.js';
import { startTestTemporal, testConfigTree } from '../helpers/iwf.js';
import { startIwfProcess } from '../helpers/iwf-process.js';
import { forwardReq, sendMm4, startFakeMmsc } from '../helpers/mmsc.js';
import { waitFor } from '../helpers/ports.js';
import { startSipPeer } from '../helpers/sip-peer.js';
import { testWith } from '../helpers/tools.js';

const url = process.env.IWF_TEST_POSTGRES_URL;
const ORIGIN = 'system-user@mms.mnc001.mcc001.gprs';

testWith('postgres')('a worker killed while writing the audit record leaves exactly one record', async (t) => {
  t.timeout(180_000);
  const store = postgresAuditStore(url!);
  await store.get('none'); // creates the table before anyone locks it
  const temporal = await startTestTemporal();
  const mmsc = await startFakeMmsc();
  const peer = await startSipPeer(() => 202);
  const dir = mkdtempSync(join(tmpdir(), 'iwf-audit-crash-'));
  const configFile = join(dir, 'iwf.json');
  const tree = testConfigTree({ temporalAddress: temporal.address, mmscPort: mmsc.port, outboundProxyPort: peer.port });
  writeFileSync(
    configFile,
    JSON.stringify({ ...tree, log: { level: 'info' }, dataDir: dir, audit: { store: 'postgres', postgresUrl: url } }),
  );
  const messageId = `M-audit-${Date.now()}`;
  const workflowId = mmsToCpmWorkflowId(ORIGIN, messageId);
  const locker = new pg.Client({ connectionString: url });
  const watcher = new pg.Client({ connectionString: url });
  await locker.connect();
  await watcher.connect();
  let first: ChildProcess | undefined;
  let second: ChildProcess | undefined;
  const connection = await Connection.connect({ address: temporal.address });
  try {
    const p1 = await startIwfProcess(configFile);
    first = p1.child;
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE iwf_audit IN ACCESS EXCLUSIVE MODE');

    const sent = await sendMm4(p1.mm4Port, forwardReq({ messageId, deliveryReport: false }), {
      from: '+12025550101/TYPE=PLMN@mms.mnc001.mcc001.gprs',
      to: ['+12025550199/TYPE=PLMN@mms.iwf.example.net'],
    });
    t.true(sent.ok);
    const res = await waitFor('.RES', () => mmsc.received.find((r) => r.messageId === messageId));
    t.is(res.requestStatus, 'Ok');

    // The delivery is over; its audit INSERT now waits for our lock.
    await waitFor(
      'audit INSERT blocked on the lock',
      async () => {
        const r = await watcher.query(
          "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO iwf_audit%'",
        );
        return r.rowCount ? true : undefined;
      },
      30_000,
    );
    const exited = new Promise((r) => first!.once('exit', r));
    first.kill('SIGKILL');
    await exited;
    await locker.query('ROLLBACK'); // the dead worker's statement may now run, or not

    second = (await startIwfProcess(configFile)).child;
    const client = new Client({ connection });
    const handle = client.workflow.getHandle(workflowId);
    const outcome = (await handle.result()) as { result: string };
    t.is(outcome.result, 'delivered');

    const history = await handle.fetchHistory();
    const attempts = (history.events ?? [])
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
    t.true(Math.max(...attempts) >= 2, 'the audit write was retried by the second process');
    const answers = (history.events ?? [])
      .map((e) => e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data)
      .filter((d): d is Uint8Array => d !== undefined && d !== null)
      .map((d) => Buffer.from(d).toString());
    // 'exists' when the dead worker's INSERT ran once the lock was gone, 'written' when it did not.
    t.log(`the retried write answered ${answers.at(-1)}`);
    t.regex(answers.at(-1) ?? '', /^"(written|exists)"$/);

    const rows = await watcher.query('SELECT run_id FROM iwf_audit WHERE workflow_id = $1', [workflowId]);
    t.is(rows.rowCount, 1, 'one record per delivery run');
    const [record] = await store.get(workflowId);
    t.is(record.outcome?.result, 'delivered');
    t.is(record.trail.at(-1)?.to, 'done');

    // Operators read it with the CLI, from the same store.
    const cli = await promisify(execFile)(process.execPath, ['bin/iwf.mjs', 'audit', 'show', workflowId, '--json'], {
      env: { ...process.env, IWF_CONFIG: configFile },
    });
    t.is((JSON.parse(cli.stdout) as { workflowId: string }[]).length, 1);
  } finally {
    await locker.query('ROLLBACK').catch(() => {});
    first?.kill('SIGKILL');
    second?.kill('SIGTERM');
    if (second && second.exitCode === null) await new Promise((r) => second!.once('exit', r));
    await locker.end();
    await watcher.end();
    await store.close?.();
    await connection.close();
    await peer.close();
    await mmsc.close();
    await temporal.stop();
  }
});
