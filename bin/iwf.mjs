#!/usr/bin/env node
// The `iwf` command: runs cli/main.ts through tsx (the project ships TypeScript sources).
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
