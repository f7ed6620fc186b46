import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SIPP_DIR = fileURLToPath(new URL('../sipp/', import.meta.url));

/** Whether SIPp (Debian sip-tester) is installed. */
export function sippAvailable(): boolean {
  return spawnSync('sipp', ['-v'], { stdio: 'ignore' }).error === undefined;
}

/** A copy of a scenario with its `SIP/2.0 202 Accepted` status line replaced. */
export function scenarioWithStatus(name: string, statusLine: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sipp-'));
  const file = join(dir, name);
  writeFileSync(file, readFileSync(join(SIPP_DIR, name), 'utf8').replace('SIP/2.0 202 Accepted', `SIP/2.0 ${statusLine}`));
  return file;
}

export interface SippRun {
  /** Resolves when SIPp exits: its exit code (0 = every call succeeded) and the messages it traced. */
  done: Promise<{ code: number | null; messages: string; stderr: string }>;
  kill(): void;
}

/**
 * Runs SIPp as a child process with tracing into a temp folder, bounded by its own timeout so a
 * test never hangs. `args` are SIPp arguments after `-sf <scenario>`.
 */
export function runSipp(scenario: string, args: string[], timeoutSeconds = 60): SippRun {
  const dir = mkdtempSync(join(tmpdir(), 'sipp-run-'));
  const child = spawn('sipp', ['-sf', scenario, ...args, '-timeout', `${timeoutSeconds}s`, '-timeout_error', '-trace_msg', '-trace_err', '-nostdin'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; messages: string; stderr: string }>((resolve) => {
    child.once('exit', (code) => {
      const logs = readdirSync(dir).filter((f) => f.endsWith('_messages.log') || f.endsWith('_errors.log'));
      resolve({ code, messages: logs.map((f) => readFileSync(join(dir, f), 'utf8')).join('\n'), stderr });
    });
    child.once('error', (e) => resolve({ code: -1, messages: '', stderr: e.message }));
  });
  return { done, kill: () => child.kill('SIGKILL') };
}
