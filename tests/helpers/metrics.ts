/** Reading Prometheus text exposition in tests, independent of label order. */

/** Value of the sample `name` whose labels include all of `labels`; undefined when absent. */
export function sampleValue(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of body.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = line.includes('{') ? line.slice(line.indexOf('{') + 1, line.lastIndexOf('}')) : '';
    const have = Object.fromEntries([...labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

export async function scrape(metricsPortOrUrl: number | string): Promise<string> {
  const url = typeof metricsPortOrUrl === 'number' ? `http://127.0.0.1:${metricsPortOrUrl}/metrics` : metricsPortOrUrl;
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.text();
}
