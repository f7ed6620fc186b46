import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts `worker/main.ts` as its own process (so a test can SIGKILL it) and resolves once it logs
 * its MM4 port.
 */
export function startIwfProcess(configFile: string): Promise<{ child: ChildProcess; mm4Port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts', '--config', configFile], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        if (!line.includes('"IWF running"')) continue;
        resolve({ child, mm4Port: (JSON.parse(line) as { mm4: { port: number } }).mm4.port });
      }
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => reject(new Error(`IWF exited early (${code}): ${err}`)));
  });
}
