/**
 * The encyclopedia: the dictd reader on a database written here, BM25 over a folder of documents
 * (SPARK_ENCYCLOPEDIA_DIR), and the default corpus built from Debian's WordNet + GCIDE + FOLDOC,
 * queried with MMLU-Pro terms (question_id 434 utilitarianism, 6879 opportunity cost).
 */
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { Bm25Index, IndexBuilder, tokenize } from './bm25.js';
import { decodeDictNumber, installedDictionaries, readDictd, readFolder } from './corpus.js';
import { buildDefaultEncyclopedia, Encyclopedia, encyclopediaInput, encyclopediaTool } from './encyclopedia.js';
import type { ToolContext } from './tool.js';

const tmp = mkdtempSync(join(tmpdir(), 'spark-encyclopedia-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const encode = (n: number) => { let s = ''; do { s = B64[n % 64] + s; n = Math.floor(n / 64); } while (n > 0); return s; };
const ctx = { signal: new AbortController().signal, timeoutMs: 30_000 } as ToolContext;

describe('dictd reader', () => {
  it('decodes dictd base64 numbers and reads entries, skipping metadata and duplicates', () => {
    expect(decodeDictNumber('B')).toBe(1);
    expect(decodeDictNumber('Kj')).toBe(10 * 64 + 35);
    const entries = ['00-database-info\n  test db\n', 'photon\n  n 1: a quantum of electromagnetic radiation\n', 'quark\n  n 1: a hypothetical truly fundamental particle\n  [1913 Webster]\n'];
    let body = '';
    const index: string[] = [];
    for (const e of entries) {
      index.push(`${e.split('\n')[0]}\t${encode(Buffer.byteLength(body))}\t${encode(Buffer.byteLength(e))}`);
      body += e;
    }
    index.push(`light quantum\t${index[1].split('\t')[1]}\t${index[1].split('\t')[2]}`); // same definition, second headword
    const dir = join(tmp, 'dictd');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'toy.dict.dz'), gzipSync(body));
    writeFileSync(join(dir, 'toy.index'), `${index.join('\n')}\n`);
    const docs = [...readDictd(dir, 'toy', 'Toy')];
    expect(docs.map((d) => d.title)).toEqual(['photon', 'quark']);
    expect(docs[1]).toEqual({ title: 'quark', source: 'Toy', text: 'quark\n  n 1: a hypothetical truly fundamental particle' });
  });
});

describe('BM25', () => {
  it('tokenizes with stopwords and plural folding', () => {
    expect(tokenize('The Functions of Mitochondria, and its Proteins!')).toEqual(['function', 'mitochondria', 'protein']);
    expect(tokenize('Café économies 3 x')).toEqual(['cafe', 'economy', '3']);
  });

  it('ranks by BM25 with title weight, and saves/loads the same index', () => {
    const docs = [
      { title: 'inflation', source: 't', text: 'a general rise in the price level of an economy over time' },
      { title: 'deflation', source: 't', text: 'a general fall in the price level' },
      { title: 'price', source: 't', text: 'the amount of money asked for a good; price level, price index, prices prices prices' },
      { title: 'unrelated', source: 't', text: 'a cat sat on a mat' },
    ];
    const mem = new IndexBuilder();
    docs.forEach((d) => mem.add(d));
    const index = mem.build();
    expect(index.search('price level rise', 3).map((h) => h.title)).toEqual(['inflation', 'price', 'deflation']);
    expect(index.search('inflation', 1)[0]!.title).toBe('inflation');
    expect(index.search('nothing matches this', 3)).toEqual([]);
    const saved = IndexBuilder.forFolder(join(tmp, 'toy-index'));
    docs.forEach((d) => saved.add(d));
    saved.save(join(tmp, 'toy-index'), { test: true });
    const loaded = Bm25Index.load(join(tmp, 'toy-index'));
    expect(loaded.search('price level rise', 3)).toEqual(index.search('price level rise', 3));
    loaded.close();
  });
});

describe('encyclopedia over a folder (SPARK_ENCYCLOPEDIA_DIR)', () => {
  it('indexes .txt, .md and .jsonl documents and answers with titles and sources', async () => {
    const dir = join(tmp, 'docs');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'keynes.txt'), 'The Keynesian multiplier is the ratio of a change in national income to the change in spending that caused it.');
    writeFileSync(join(dir, 'sub', 'notes.md'), '# Krebs cycle\nThe citric acid cycle releases stored energy through the oxidation of acetyl-CoA.');
    writeFileSync(join(dir, 'facts.jsonl'), `${JSON.stringify({ title: 'Stare decisis', text: 'The legal principle of determining points in litigation according to precedent.' })}\n${JSON.stringify({ id: 'x', body: 'Habeas corpus is a writ requiring a person under arrest to be brought before a judge.' })}\n`);
    expect([...readFolder(dir)].map((d) => d.title)).toEqual(['Stare decisis', 'x', 'keynes', 'notes']);
    const tool = encyclopediaTool(new Encyclopedia({ indexDir: join(tmp, 'none'), docsDir: dir }));
    const out = await tool.run(encyclopediaInput.parse({ query: 'precedent litigation', k: 1 }), ctx);
    expect(out.text).toBe('1. Stare decisis [facts.jsonl]\nThe legal principle of determining points in litigation according to precedent.');
    expect((await tool.run(encyclopediaInput.parse({ query: 'citric acid cycle' }), ctx)).text).toMatch(/^1\. notes \[notes\.md\]/);
  });

  it('says what to do when there is no corpus', async () => {
    const tool = encyclopediaTool(new Encyclopedia({ indexDir: join(tmp, 'missing-index') }));
    await expect(tool.run(encyclopediaInput.parse({ query: 'x' }), ctx)).rejects.toThrow(/no encyclopedia index .* install dict-wn dict-gcide dict-foldoc/);
  });
});

describe('encyclopedia over a web-search provider (SPARK_ENCYCLOPEDIA_SEARCH_URL)', () => {
  it('asks the SearxNG-style JSON API and reports HTTP failures as the tool\'s error', async () => {
    const seen: string[] = [];
    let fail = false;
    const server = createServer((req, res) => {
      seen.push(req.url ?? '');
      if (fail) { res.writeHead(503); res.end('down'); return; }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ results: [
        { title: 'Mitochondrion', url: 'http://wiki.local/Mitochondrion', content: 'Organelle that generates most of the chemical energy of the cell.' },
        { title: 'ATP', url: 'http://wiki.local/ATP', content: 'Adenosine triphosphate.' },
      ] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/search`;
    try {
      const encyclopedia = new Encyclopedia({ indexDir: join(tmp, 'unused'), searchUrl: base });
      expect(encyclopedia.describe()).toMatch(/^web search at http:\/\/127\.0\.0\.1:\d+$/);
      const tool = encyclopediaTool(encyclopedia);
      const out = await tool.run(encyclopediaInput.parse({ query: 'mitochondria function', k: 1 }), ctx);
      expect(out.text).toBe('1. Mitochondrion [http://wiki.local/Mitochondrion]\nOrganelle that generates most of the chemical energy of the cell.');
      expect(seen[0]).toBe('/search?q=mitochondria+function&format=json');
      fail = true;
      await expect(tool.run(encyclopediaInput.parse({ query: 'x' }), ctx)).rejects.toThrow(/answered HTTP 503/);
    } finally {
      server.close();
    }
  });
});

describe('default corpus: WordNet + GCIDE + FOLDOC (MMLU-Pro terms)', () => {
  const indexDir = join(tmp, 'default');

  it('builds from the installed dictionaries, then skips an up-to-date rebuild', () => {
    expect(installedDictionaries().map((d) => d.name)).toEqual(['wn', 'gcide', 'foldoc']);
    const first = buildDefaultEncyclopedia(indexDir);
    expect(first).toMatchObject({ built: true });
    expect(first.docs).toBeGreaterThan(250_000);
    expect(buildDefaultEncyclopedia(indexDir)).toMatchObject({ built: false, skipped: true });
  });

  it('question_id 434: utilitarianism — "the greatest happiness of the greatest number" (option G)', async () => {
    const tool = encyclopediaTool(new Encyclopedia({ indexDir }));
    const out = await tool.run(encyclopediaInput.parse({ query: 'utilitarianism' }), ctx);
    expect(out.text).toMatch(/^1\. utilitarianism \[WordNet 3\.0\]/i);
    expect(out.text).toMatch(/greatest\s+happiness\s+of\s+the\s+greatest\s+number/);
  });

  it('question_id 6879: opportunity cost — "cost in terms of foregoing alternatives" (option G)', async () => {
    const tool = encyclopediaTool(new Encyclopedia({ indexDir }));
    const out = await tool.run(encyclopediaInput.parse({ query: 'What is opportunity cost?', k: 2 }), ctx);
    expect(out.text).toMatch(/^1\. opportunity cost \[WordNet 3\.0\]\nopportunity cost\n\s+n 1: cost in terms of foregoing alternatives/);
    expect((out.data as { hits: unknown[] }).hits).toHaveLength(2);
  });
});
