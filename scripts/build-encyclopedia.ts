/**
 * Builds the encyclopedia tool's default corpus index (WordNet + GCIDE + FOLDOC from Debian's dict-*
 * packages) into .spark/encyclopedia, or another folder given as the first argument. Run by
 * scripts/setup.sh after the TypeScript build; returns at once when the index is up to date.
 *   node dist/scripts/build-encyclopedia.js [OUT_DIR] [--force]
 */
import { join } from 'node:path';
import { REPO_ROOT } from '../services/common/paths.js';
import { buildDefaultEncyclopedia } from '../services/trajectory/tools/encyclopedia.js';

const args = process.argv.slice(2);
const outDir = args.find((a) => !a.startsWith('--')) ?? join(REPO_ROOT, '.spark', 'encyclopedia');
const result = buildDefaultEncyclopedia(outDir, { force: args.includes('--force') });
if (!result.skipped) {
  const timing = result.seconds !== undefined ? ` in ${result.seconds.toFixed(1)} s` : '';
  process.stderr.write(`setup: encyclopedia: ${result.reason}${result.docs ? `, ${result.docs} documents` : ''}${timing}\n`);
}
