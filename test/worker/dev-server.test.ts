import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Client, Connection } from '@temporalio/client';
import { startDevServer } from '../../worker/dev-server.js';
import { freePort, waitFor } from '../helpers/ports.js';

const quiet = { info() {}, warn() {}, error() {} };

function occupy(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    // Connections are closed at once: the health check may reach this port before the CLI gives up,
    // and an accepted socket left open would keep the test process from exiting.
    const server = createServer((socket) => socket.destroy());
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

test('a start that fails (port taken) is tried again on the next port, and the error names the cause', async (t) => {
  const taken = await occupy();
  const ports = [taken.port];
  const warnings: string[] = [];
  const server = await startDevServer({
    port: async () => ports.shift() ?? freePort(),
    namespace: 'default',
    log: { ...quiet, warn: (o: object) => warnings.push(JSON.stringify(o)) },
  });
  try {
    t.not(server.address, `127.0.0.1:${taken.port}`);
    t.is(warnings.length, 1);
    t.regex(warnings[0], new RegExp(`${taken.port}.*address already in use`));
  } finally {
    await server.stop();
    taken.server.close();
  }
});

test('a fixed port that stays taken fails after the attempts, with the CLI error in the message', async (t) => {
  const taken = await occupy();
  try {
    const err = await t.throwsAsync(
      startDevServer({ port: taken.port, namespace: 'default', startAttempts: 2, log: quiet }),
    );
    t.regex(err?.message ?? '', /address already in use/);
  } finally {
    taken.server.close();
  }
});

test('supervised: a server killed outright is restarted on the same port and database, workflows kept', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iwf-devserver-'));
  const dbFile = join(dir, 'temporal.db');
  const gaveUp: string[] = [];
  const server = await startDevServer({
    port: freePort,
    namespace: 'default',
    dbFile,
    log: quiet,
    supervise: { onGiveUp: (r) => gaveUp.push(r) },
  });
  try {
    const conn = await Connection.connect({ address: server.address });
    const client = new Client({ connection: conn });
    await client.workflow.start('neverRegistered', { taskQueue: 'nobody-polls', workflowId: 'kept-across-restart' });
    await conn.close();

    process.kill(Number(readFileSync(`${dbFile}.pid`, 'utf8')), 'SIGKILL');
    await waitFor('the supervisor to restart the server', () => server.restarts() === 1 || undefined, 60_000);

    const again = await Connection.connect({ address: server.address });
    const d = await new Client({ connection: again }).workflow.getHandle('kept-across-restart').describe();
    t.is(d.status.name, 'RUNNING');
    await again.close();
    t.deepEqual(gaveUp, []);
  } finally {
    await server.stop();
  }
});
