/**
 * Okapi BM25 retrieval (Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond",
 * 2009): an inverted index over documents, built in memory, optionally saved to a folder and loaded
 * back. Scoring: idf(t) · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)), idf = ln(1 + (N − df + 0.5)/(df + 0.5)),
 * k1 = 1.2, b = 0.75. Title words count TITLE_WEIGHT times (a dictionary's headword is its best field)
 * and a document whose whole title is the query gets EXACT_TITLE_BONUS.
 *
 * Saved layout (`dir/`): terms.json (vocabulary), titles.json, docs.jsonl (one {title, source, text}
 * per line), index.bin (header, then doc byte offsets f64[N+1], doc lengths u32[N], term offsets
 * u32[V+1], posting docs u32[P], posting tfs u16[P]), manifest.json (counts and sources).
 * Postings are collected as (term, doc, tf) triples in growable typed arrays and counting-sorted by
 * term at the end, so a 300k-document corpus builds in a few hundred MB.
 */
import { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface Doc { title: string; source: string; text: string }

const K1 = 1.2;
const B = 0.75;
const TITLE_WEIGHT = 3;
const EXACT_TITLE_BONUS = 8;
const MAX_TF = 65_535;
const MAGIC = 0x42_4d_32_35; // "BM25"
const FORMAT_VERSION = 1;

/** Words too common to help (a short English list: articles, pronouns, auxiliaries, prepositions). */
const STOPWORDS = new Set(('a an and are as at be by for from has have he her his i in is it its of on or that the their ' +
  'them there these they this to was were which who will with what when where how why do does did not no but if ' +
  'so than then too very can could would should may might must been being into about also any all our your you we').split(' '));

/** Lower-case ASCII words (diacritics folded), stopwords dropped, plurals reduced (Harman's S-stemmer). */
export function tokenize(text: string): string[] {
  const words = text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().split(/[^a-z0-9]+/);
  const out: string[] = [];
  for (const w of words) {
    if (!w || STOPWORDS.has(w) || (w.length < 2 && !/\d/.test(w))) continue;
    out.push(stem(w));
  }
  return out;
}

function stem(w: string): string {
  if (w.length <= 3) return w;
  if (w.endsWith('ies') && !w.endsWith('eies') && !w.endsWith('aies')) return `${w.slice(0, -3)}y`;
  if (w.endsWith('es') && !w.endsWith('aes') && !w.endsWith('ees') && !w.endsWith('oes')) return w.slice(0, -1);
  if (w.endsWith('s') && !w.endsWith('us') && !w.endsWith('ss')) return w.slice(0, -1);
  return w;
}

/** Growable Uint32Array. */
class U32List {
  data = new Uint32Array(1 << 16);
  length = 0;
  push(x: number): void {
    if (this.length === this.data.length) {
      const bigger = new Uint32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = x;
  }
  view(): Uint32Array { return this.data.subarray(0, this.length); }
}

export interface SearchHit { doc: number; score: number; title: string; source: string; text: string }

/** Where document texts live: in memory (a folder indexed at run time) or in docs.jsonl (the built corpus). */
interface DocStore { get(i: number): Doc; close?(): void }

class MemoryDocs implements DocStore {
  constructor(private readonly docs: Doc[]) {}
  get(i: number): Doc { return this.docs[i]; }
}

class FileDocs implements DocStore {
  private fd: number;
  constructor(path: string, private readonly offsets: Float64Array) { this.fd = openSync(path, 'r'); }
  get(i: number): Doc {
    const start = this.offsets[i];
    const buf = Buffer.alloc(this.offsets[i + 1] - start);
    readSync(this.fd, buf, 0, buf.length, start);
    return JSON.parse(buf.toString('utf8')) as Doc;
  }
  close(): void { closeSync(this.fd); }
}

export class IndexBuilder {
  private readonly vocab = new Map<string, number>();
  private readonly terms: string[] = [];
  private readonly triTerm = new U32List();
  private readonly triDoc = new U32List();
  private readonly triTf = new U32List();
  private readonly lengths = new U32List();
  readonly titles: string[] = [];
  readonly docs: Doc[] = [];
  private out?: { fd: number; offsets: number[]; bytes: number };

  /** @param spoolDir folder to stream docs.jsonl into (for `save`); without it texts stay in memory. */
  constructor(private readonly spoolDir?: string) {
    if (spoolDir) this.out = { fd: openSync(join(spoolDir, 'docs.jsonl'), 'w'), offsets: [0], bytes: 0 };
  }

  get size(): number { return this.lengths.length; }

  add(doc: Doc): void {
    const id = this.lengths.length;
    const counts = new Map<string, number>();
    const titleTokens = tokenize(doc.title);
    for (const t of titleTokens) counts.set(t, (counts.get(t) ?? 0) + TITLE_WEIGHT);
    let length = 0;
    for (const t of tokenize(doc.text)) { counts.set(t, (counts.get(t) ?? 0) + 1); length++; }
    for (const [t, tf] of counts) {
      let termId = this.vocab.get(t);
      if (termId === undefined) { termId = this.terms.length; this.vocab.set(t, termId); this.terms.push(t); }
      this.triTerm.push(termId);
      this.triDoc.push(id);
      this.triTf.push(Math.min(tf, MAX_TF));
    }
    this.lengths.push(length + titleTokens.length * TITLE_WEIGHT);
    this.titles.push(doc.title);
    if (this.out) {
      const line = Buffer.from(`${JSON.stringify(doc)}\n`);
      writeSync(this.out.fd, line);
      this.out.bytes += line.length;
      this.out.offsets.push(this.out.bytes);
    } else {
      this.docs.push(doc);
    }
  }

  /** Counting sort of the triples by term: term offsets + posting arrays. */
  private postings(): { termOffsets: Uint32Array; postDocs: Uint32Array; postTfs: Uint16Array } {
    const terms = this.triTerm.view();
    const docs = this.triDoc.view();
    const tfs = this.triTf.view();
    const termOffsets = new Uint32Array(this.terms.length + 1);
    for (const t of terms) termOffsets[t + 1]++;
    for (let i = 0; i < this.terms.length; i++) termOffsets[i + 1] += termOffsets[i];
    const cursor = termOffsets.slice(0, -1);
    const postDocs = new Uint32Array(terms.length);
    const postTfs = new Uint16Array(terms.length);
    for (let i = 0; i < terms.length; i++) {
      const at = cursor[terms[i]]++;
      postDocs[at] = docs[i];
      postTfs[at] = tfs[i];
    }
    return { termOffsets, postDocs, postTfs };
  }

  /** An in-memory index (texts must not have been spooled). */
  build(): Bm25Index {
    if (this.out) throw new Error('this builder spools to disk: use save()');
    const p = this.postings();
    return new Bm25Index(this.terms, this.titles, this.lengths.view().slice(), p.termOffsets, p.postDocs, p.postTfs, new MemoryDocs(this.docs));
  }

  /** Writes the index into `dir` (replacing it atomically: built beside it, then renamed). */
  save(dir: string, manifest: Record<string, unknown>): void {
    if (!this.out || !this.spoolDir) throw new Error('save() needs a builder made by IndexBuilder.forFolder');
    closeSync(this.out.fd);
    const p = this.postings();
    const tmp = this.spoolDir;
    const header = new Uint32Array([MAGIC, FORMAT_VERSION, this.size, this.terms.length, p.postDocs.length, 0]);
    const fd = openSync(join(tmp, 'index.bin'), 'w');
    for (const part of [header, new Float64Array(this.out.offsets), this.lengths.view(), p.termOffsets, p.postDocs, p.postTfs]) {
      writeSync(fd, new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
    }
    closeSync(fd);
    writeFileSync(join(tmp, 'terms.json'), JSON.stringify(this.terms));
    writeFileSync(join(tmp, 'titles.json'), JSON.stringify(this.titles));
    writeFileSync(join(tmp, 'manifest.json'), `${JSON.stringify({ ...manifest, formatVersion: FORMAT_VERSION, docs: this.size, terms: this.terms.length, postings: p.postDocs.length }, null, 2)}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  }

  /** A builder that spools into a temporary folder next to `dir`, for `save(dir)`. */
  static forFolder(dir: string): IndexBuilder {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    return new IndexBuilder(tmp);
  }
}

export class Bm25Index {
  private readonly termIds: Map<string, number>;
  private readonly avgdl: number;
  private readonly byTitle = new Map<string, number[]>();

  constructor(
    terms: readonly string[],
    readonly titles: readonly string[],
    private readonly lengths: Uint32Array,
    private readonly termOffsets: Uint32Array,
    private readonly postDocs: Uint32Array,
    private readonly postTfs: Uint16Array,
    private readonly store: DocStore,
  ) {
    this.termIds = new Map(terms.map((t, i) => [t, i]));
    let total = 0;
    for (const l of lengths) total += l;
    this.avgdl = lengths.length ? total / lengths.length : 1;
    titles.forEach((t, i) => {
      const key = tokenize(t).join(' ');
      if (!key) return;
      const list = this.byTitle.get(key);
      if (list) list.push(i); else this.byTitle.set(key, [i]);
    });
  }

  get size(): number { return this.lengths.length; }

  /** The `k` best documents for `query`, best first. */
  search(query: string, k = 3): SearchHit[] {
    const n = this.size;
    const scores = new Float32Array(n);
    const touched: number[] = [];
    const queryTerms = tokenize(query);
    for (const term of new Set(queryTerms)) {
      const id = this.termIds.get(term);
      if (id === undefined) continue;
      const from = this.termOffsets[id];
      const to = this.termOffsets[id + 1];
      const df = to - from;
      const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
      for (let p = from; p < to; p++) {
        const d = this.postDocs[p];
        const tf = this.postTfs[p];
        if (scores[d] === 0) touched.push(d);
        scores[d] += (idf * tf * (K1 + 1)) / (tf + K1 * (1 - B + (B * this.lengths[d]) / this.avgdl));
      }
    }
    for (const d of (queryTerms.length ? this.byTitle.get(queryTerms.join(' ')) : undefined) ?? []) {
      if (scores[d] === 0) touched.push(d);
      scores[d] += EXACT_TITLE_BONUS;
    }
    touched.sort((a, b) => scores[b] - scores[a] || a - b);
    return touched.slice(0, k).map((d) => ({ doc: d, score: scores[d], ...this.store.get(d) }));
  }

  close(): void { this.store.close?.(); }

  /** Loads an index saved by `IndexBuilder.save`. */
  static load(dir: string): Bm25Index {
    const bin = readFileSync(join(dir, 'index.bin'));
    const copy = <T>(Ctor: { new (b: ArrayBuffer): T; BYTES_PER_ELEMENT: number }, at: number, count: number): [T, number] => {
      const bytes = count * Ctor.BYTES_PER_ELEMENT;
      const ab = bin.buffer.slice(bin.byteOffset + at, bin.byteOffset + at + bytes) as ArrayBuffer; // aligned copy
      return [new Ctor(ab), at + bytes];
    };
    const [header, a] = copy(Uint32Array, 0, 6);
    if (header[0] !== MAGIC || header[1] !== FORMAT_VERSION) throw new Error(`${dir}/index.bin is not a BM25 index of format ${FORMAT_VERSION}; rebuild it`);
    const [n, v, p] = [header[2], header[3], header[4]];
    const [offsets, b] = copy(Float64Array, a, n + 1);
    const [lengths, c] = copy(Uint32Array, b, n);
    const [termOffsets, d] = copy(Uint32Array, c, v + 1);
    const [postDocs, e] = copy(Uint32Array, d, p);
    const [postTfs] = copy(Uint16Array, e, p);
    const terms = JSON.parse(readFileSync(join(dir, 'terms.json'), 'utf8')) as string[];
    const titles = JSON.parse(readFileSync(join(dir, 'titles.json'), 'utf8')) as string[];
    return new Bm25Index(terms, titles, lengths, termOffsets, postDocs, postTfs, new FileDocs(join(dir, 'docs.jsonl'), offsets));
  }
}
