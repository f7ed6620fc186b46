import { connect, createServer } from 'node:net';

/**
 * A TCP port free on 127.0.0.1 right now (for servers that cannot bind port 0 themselves).
 *
 * Linux hands out ephemeral ports at random and may give a just-closed one to the next bind(0), so two
 * test processes asking at once (or the Temporal CLI picking its internal ports) could get the same
 * one. Like the Temporal CLI, we connect to the port and close from the listening side first: the
 * connection's TIME_WAIT keeps bind(0) from handing the port out again for a minute, while a server
 * that binds it explicitly (SO_REUSEADDR, Node's default for TCP) still can.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer((accepted) => accepted.destroy());
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      const c = connect(port, '127.0.0.1');
      c.once('error', () => s.close(() => resolve(port)));
      c.once('close', () => s.close(() => resolve(port)));
      c.resume();
    });
  });
}
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
