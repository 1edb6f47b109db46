/**
 * Document sources for the encyclopedia:
 *  - dictd databases (the format of Debian's dict-wn, dict-gcide, dict-foldoc; RFC 2229 servers'
 *    storage): `NAME.index` lines "headword TAB offset TAB length" with offset and length in dictd's
 *    base64 digits, pointing into `NAME.dict.dz` (gzip with a dictzip random-access header; plain gunzip
 *    reads it whole). Entries sharing one definition are read once.
 *  - a folder of documents: `.txt`/`.md` files (split into passages of about PASSAGE_WORDS words,
 *    titled by file name) and `.jsonl` files (one object per line: title|name|id and text|content|body).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Doc } from './bm25.js';

/** Debian's dictionary databases used for the default corpus, with the licence each ships under. */
export const DEFAULT_DICTIONARIES = [
  { name: 'wn', title: 'WordNet 3.0', package: 'dict-wn', licence: 'WordNet licence' },
  { name: 'gcide', title: 'GNU Collaborative International Dictionary of English', package: 'dict-gcide', licence: 'GPL-3+' },
  { name: 'foldoc', title: 'Free On-line Dictionary of Computing', package: 'dict-foldoc', licence: 'GFDL' },
] as const;

export const DICTD_DIR = '/usr/share/dictd';
/** Stored text per document, characters (long GCIDE entries are cut; the opening senses matter most). */
export const MAX_DOC_CHARS = 3_000;
const PASSAGE_WORDS = 200;

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** dictd's base64 number: big-endian digits of the standard alphabet. */
export function decodeDictNumber(s: string): number {
  let n = 0;
  for (const ch of s) {
    const d = B64.indexOf(ch);
    if (d < 0) throw new Error(`bad dictd number ${JSON.stringify(s)}`);
    n = n * 64 + d;
  }
  return n;
}

/** Removes GCIDE's per-sense source tags ("[1913 Webster]", "[PJC]") and trailing blanks. */
function cleanEntry(text: string): string {
  return text
    .split('\n')
    .filter((line) => !/^\s*\[(?:[^\]]*Webster|PJC|WordNet[^\]]*|Century[^\]]*)\]\s*$/.test(line))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function capText(text: string): string {
  return text.length <= MAX_DOC_CHARS ? text : `${text.slice(0, MAX_DOC_CHARS)} …`;
}

/** Every entry of dictd database `name` in `dir` (metadata entries "00-database-*" skipped). */
export function* readDictd(dir: string, name: string, source = name): Generator<Doc> {
  const body = gunzipSync(readFileSync(join(dir, `${name}.dict.dz`)));
  const seen = new Set<number>();
  for (const line of readFileSync(join(dir, `${name}.index`), 'utf8').split('\n')) {
    const [headword, off, len] = line.split('\t');
    if (!headword || off === undefined || len === undefined || /^00-?database/.test(headword)) continue;
    const offset = decodeDictNumber(off);
    if (seen.has(offset)) continue;
    seen.add(offset);
    const text = cleanEntry(body.subarray(offset, offset + decodeDictNumber(len)).toString('utf8'));
    if (text) yield { title: headword, source, text: capText(text) };
  }
}

/** Which default dictionaries are installed here. */
export function installedDictionaries(dir = DICTD_DIR): Array<(typeof DEFAULT_DICTIONARIES)[number]> {
  return DEFAULT_DICTIONARIES.filter((d) => existsSync(join(dir, `${d.name}.index`)) && existsSync(join(dir, `${d.name}.dict.dz`)));
}

function* passages(title: string, text: string, source: string): Generator<Doc> {
  const words = text.split(/\s+/).filter(Boolean);
  if (words.length <= PASSAGE_WORDS * 1.5) { yield { title, source, text: capText(text.trim()) }; return; }
  for (let i = 0, part = 1; i < words.length; i += PASSAGE_WORDS, part++) {
    yield { title: `${title} (part ${part})`, source, text: words.slice(i, i + PASSAGE_WORDS).join(' ') };
  }
}

const pick = (o: Record<string, unknown>, keys: string[]) => keys.map((k) => o[k]).find((v) => typeof v === 'string' && v.trim()) as string | undefined;

/** Documents of a folder (recursively): .txt/.md as passages, .jsonl as one document per line. */
export function* readFolder(dir: string): Generator<Doc> {
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) { yield* readFolder(path); continue; }
    const ext = extname(entry).toLowerCase();
    const name = basename(entry, extname(entry));
    if (ext === '.txt' || ext === '.md') {
      yield* passages(name, readFileSync(path, 'utf8'), entry);
    } else if (ext === '.jsonl') {
      for (const [i, line] of readFileSync(path, 'utf8').split('\n').entries()) {
        if (!line.trim()) continue;
        let o: Record<string, unknown>;
        try { o = JSON.parse(line) as Record<string, unknown>; } catch { throw new Error(`${path}:${i + 1}: not valid JSON`); }
        const text = pick(o, ['text', 'content', 'body', 'abstract']);
        if (text) yield { title: pick(o, ['title', 'name', 'id']) ?? `${name}:${i + 1}`, source: entry, text: capText(text) };
      }
    }
  }
}
