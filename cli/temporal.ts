/**
 * `npm run temporal -- <args>`: the Temporal CLI that `npm install` provisioned (worker/temporal-cli.ts
 * finds it: TEMPORAL_CLI, .tools/temporal-cli.json, then PATH), so the README's
 * `temporal workflow list ...` works without a `temporal` on PATH. Arguments, stdio and exit status
 * are the CLI's own; SIGINT/SIGTERM are passed on to it.
 */
import { spawn } from 'node:child_process';
import { findTemporalCli } from '../worker/temporal-cli.js';

let cli: string;
try {
  cli = findTemporalCli();
} catch (e) {
  console.error(`npm run temporal: ${(e as Error).message}`);
  process.exit(127);
}
const child = spawn(cli, process.argv.slice(2), { stdio: 'inherit' });
const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
process.on('SIGINT', forward('SIGINT')).on('SIGTERM', forward('SIGTERM'));
child.once('error', (e) => {
  console.error(`npm run temporal: cannot run ${cli}: ${e.message}`);
  process.exit(127);
});
child.once('exit', (code, signal) =>
  process.exit(code ?? (signal ? 128 + ({ SIGINT: 2, SIGTERM: 15 }[signal as string] ?? 1) : 1)),
);
