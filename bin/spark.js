#!/usr/bin/env node
// The `spark` command: runs the compiled CLI (npm start / npm test build it via scripts/setup.sh).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/services/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('spark: not built yet; run `npm run setup` (or `npm start` / `npm test`) first\n');
  process.exit(2);
}
const { main } = await import(entry.href);
await main(process.argv);
