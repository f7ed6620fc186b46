import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** What the process logs once it runs ("IWF running"): its listeners, absent where its role has none. */
export interface IwfProcessInfo {
  role: string;
  mm4?: { host: string; port: number };
  sip: { host: string; port: number };
  media?: { host: string; port: number };
  /** The operations listener (/metrics, /healthz, /readyz). */
  metrics?: { host: string; port: number };
}

/**
 * Starts `worker/main.ts` as its own process (so a test can SIGKILL it) and resolves once it logs
 * that it runs; `mm4Port` is 0 for a worker-only node (`args: ['--role', 'worker']` or `IWF_ROLE` in `env`).
 */
export function startIwfProcess(
  configFile: string,
  o: { args?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<{ child: ChildProcess; mm4Port: number; info: IwfProcessInfo }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'worker/main.ts', '--config', configFile, ...(o.args ?? [])],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(o.env ? { env: { ...process.env, ...o.env } } : {}),
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        if (!line.includes('"IWF running"')) continue;
        const info = JSON.parse(line) as IwfProcessInfo;
        resolve({ child, mm4Port: info.mm4?.port ?? 0, info });
      }
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => reject(new Error(`IWF exited early (${code}): ${err}`)));
  });
}
