/**
 * A web-search HTTP provider for the `encyclopedia` tool, used instead of the local BM25 corpus when
 * SPARK_ENCYCLOPEDIA_SEARCH_URL is set. It speaks the JSON API that self-hosted metasearch engines expose
 * (SearxNG: `GET <url>?q=<query>&format=json` → `{"results": [{"title", "url", "content"}]}`), so a
 * cluster can point it at its own search service; nothing here assumes a particular vendor.
 */
import { z } from 'zod';
import { ToolRunError } from './tool.js';

const searchResponse = z.object({
  results: z.array(z.object({ title: z.string().default(''), url: z.string().default(''), content: z.string().default('') }).loose()),
}).loose();

export interface WebHit {
  title: string;
  url: string;
  text: string;
}

/** The first `k` results for `query`; HTTP and format problems become the tool's error. */
export async function webSearch(baseUrl: string, query: string, k: number, signal: AbortSignal): Promise<WebHit[]> {
  const url = new URL(baseUrl);
  url.searchParams.set('q', query);
  url.searchParams.set('format', 'json');
  let res: Response;
  try {
    res = await fetch(url, { signal, headers: { accept: 'application/json' } });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new ToolRunError(`web search at ${url.origin} unreachable: ${(err as Error).message}`, undefined, { cause: err });
  }
  if (!res.ok) throw new ToolRunError(`web search at ${url.origin} answered HTTP ${res.status}`);
  const parsed = searchResponse.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success) throw new ToolRunError(`web search at ${url.origin} returned no {"results": [...]} JSON`);
  return parsed.data.results.slice(0, k).map((r) => ({ title: r.title, url: r.url, text: r.content }));
}
