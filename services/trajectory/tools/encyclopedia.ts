/**
 * `encyclopedia`: BM25 search (bm25.ts) over a local corpus.
 *
 * Default corpus: Debian's dictionary databases WordNet 3.0, GCIDE and FOLDOC (packages dict-wn,
 * dict-gcide, dict-foldoc; ~360k entries), indexed once at setup by `buildDefaultEncyclopedia`
 * (scripts/build-encyclopedia.ts) into a git-ignored folder (.spark/encyclopedia) and loaded on the
 * first query. When `SPARK_ENCYCLOPEDIA_DIR` names a folder of .txt/.md/.jsonl documents, that folder
 * is the corpus instead, indexed in memory on first use. Searches run on the service thread: a query
 * touches only its terms' postings (milliseconds), so no worker is needed.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ACTION_DESCRIPTIONS } from '../../common/actions.js';
import { Bm25Index, IndexBuilder } from './bm25.js';
import { DICTD_DIR, installedDictionaries, readDictd, readFolder } from './corpus.js';
import { defineTool, ToolRunError, type ToolDefinition } from './tool.js';
import { webSearch } from './web-search.js';

/** Bump when the corpus cleaning or tokenizer changes, so setup rebuilds the index. */
export const CORPUS_BUILD_VERSION = 1;
/** Characters of each hit shown to the model. */
const SHOWN_CHARS = 700;

export interface BuildResult { built: boolean; skipped?: boolean; reason: string; docs?: number; seconds?: number }

/** What the index was built from: package files and their sizes and dates, plus the builder version. */
function corpusStamp(dictDir: string, maxDocs: number): string {
  const files = installedDictionaries(dictDir).flatMap((d) => [`${d.name}.index`, `${d.name}.dict.dz`])
    .map((f) => { const st = statSync(join(dictDir, f)); return `${f}:${st.size}:${st.mtimeMs}`; });
  return JSON.stringify({ version: CORPUS_BUILD_VERSION, maxDocs, files });
}

/**
 * Builds the default corpus index into `outDir` unless it is already there for the same inputs
 * (then it returns at once). At most `maxDocs` documents, dictionaries in the order listed.
 */
export function buildDefaultEncyclopedia(outDir: string, opts: { dictDir?: string; maxDocs?: number; force?: boolean } = {}): BuildResult {
  const dictDir = opts.dictDir ?? DICTD_DIR;
  const maxDocs = opts.maxDocs ?? 500_000;
  const dictionaries = installedDictionaries(dictDir);
  if (dictionaries.length === 0) {
    return { built: false, reason: `no dictionary databases in ${dictDir} (apt-get install dict-wn dict-gcide dict-foldoc); the encyclopedia tool will report that it has no corpus` };
  }
  const stamp = corpusStamp(dictDir, maxDocs);
  const manifestPath = join(outDir, 'manifest.json');
  if (!opts.force && existsSync(manifestPath) && (JSON.parse(readFileSync(manifestPath, 'utf8')) as { stamp?: string }).stamp === stamp) {
    return { built: false, skipped: true, reason: `up to date (${outDir})` };
  }
  const started = Date.now();
  const builder = IndexBuilder.forFolder(outDir);
  const sources: Array<{ name: string; title: string; package: string; licence: string; docs: number }> = [];
  for (const d of dictionaries) {
    let count = 0;
    for (const doc of readDictd(dictDir, d.name, d.title)) {
      if (builder.size >= maxDocs) break;
      builder.add(doc);
      count++;
    }
    sources.push({ ...d, docs: count });
  }
  builder.save(outDir, { stamp, builtAt: new Date().toISOString(), sources });
  const missing = ['wn', 'gcide', 'foldoc'].filter((n) => !dictionaries.some((d) => d.name === n));
  return {
    built: true,
    reason: `indexed ${sources.map((s) => `${s.name} (${s.docs})`).join(', ')}${missing.length ? `; not installed: ${missing.join(', ')}` : ''}`,
    docs: builder.size,
    seconds: (Date.now() - started) / 1000,
  };
}

export interface EncyclopediaOptions {
  /** Folder of the built default index. */
  indexDir: string;
  /** A folder of documents that replaces the default corpus. */
  docsDir?: string;
  /** A web-search HTTP provider used instead of any local corpus (web-search.ts). */
  searchUrl?: string;
}

/** The corpus behind the tool, loaded (or indexed) on first use. */
export class Encyclopedia {
  private index?: Bm25Index;

  constructor(private readonly opts: EncyclopediaOptions) {}

  /** Set when a web-search provider answers instead of the local corpus. */
  get searchUrl(): string | undefined {
    return this.opts.searchUrl;
  }

  /** Which corpus answers, for ListTools and logs. */
  describe(): string {
    if (this.opts.searchUrl) return `web search at ${new URL(this.opts.searchUrl).origin}`;
    return this.opts.docsDir ? `documents in ${this.opts.docsDir}` : `dictionaries indexed in ${this.opts.indexDir}`;
  }

  load(): Bm25Index {
    if (this.index) return this.index;
    if (this.opts.docsDir) {
      if (!existsSync(this.opts.docsDir)) throw new ToolRunError(`encyclopedia folder ${this.opts.docsDir} does not exist (SPARK_ENCYCLOPEDIA_DIR)`);
      const builder = new IndexBuilder();
      for (const doc of readFolder(this.opts.docsDir)) builder.add(doc);
      if (builder.size === 0) throw new ToolRunError(`no .txt, .md or .jsonl documents in ${this.opts.docsDir}`);
      this.index = builder.build();
    } else {
      if (!existsSync(join(this.opts.indexDir, 'index.bin'))) {
        throw new ToolRunError(`no encyclopedia index in ${this.opts.indexDir}: install dict-wn dict-gcide dict-foldoc and run scripts/setup.sh, or set SPARK_ENCYCLOPEDIA_DIR to a folder of documents`);
      }
      this.index = Bm25Index.load(this.opts.indexDir);
    }
    return this.index;
  }

  close(): void {
    this.index?.close();
    this.index = undefined;
  }
}

export const encyclopediaInput = z.object({
  query: z.string().min(1).max(500).describe('Key terms to look up, e.g. "mitochondria function" or a single word to define'),
  k: z.number().int().min(1).max(10).default(3).describe('How many entries to return'),
}).strict();
export type EncyclopediaInput = z.infer<typeof encyclopediaInput>;

/** Numbered entries as the model reads them: title, [source], then the text cut at SHOWN_CHARS. */
function formatEntries(entries: ReadonlyArray<{ title: string; source: string; text: string }>): string {
  return entries.map((e, i) => `${i + 1}. ${e.title} [${e.source}]\n${e.text.length > SHOWN_CHARS ? `${e.text.slice(0, SHOWN_CHARS)} …` : e.text}`).join('\n\n');
}

export function encyclopediaTool(encyclopedia: Encyclopedia): ToolDefinition<EncyclopediaInput> {
  return defineTool<EncyclopediaInput>({
    name: 'encyclopedia',
    description: ACTION_DESCRIPTIONS.encyclopedia,
    input: encyclopediaInput,
    timeoutMs: 30_000, // the first call loads (or, for a folder, builds) the index
    source: 'builtin',
    async run(input, ctx) {
      if (encyclopedia.searchUrl) {
        const found = await webSearch(encyclopedia.searchUrl, input.query, input.k, ctx.signal);
        if (found.length === 0) return { text: `no web results for ${JSON.stringify(input.query)}`, data: { hits: [] } };
        return { text: formatEntries(found.map((h) => ({ title: h.title, source: h.url, text: h.text }))), data: { hits: found } };
      }
      const hits = encyclopedia.load().search(input.query, input.k);
      if (hits.length === 0) return { text: `no entries match ${JSON.stringify(input.query)}`, data: { hits: [] } };
      return { text: formatEntries(hits), data: { hits: hits.map((h) => ({ title: h.title, source: h.source, score: h.score, text: h.text })) } };
    },
  });
}
