/** `spark doctor`'s setup checks: data, tools, disk, and the judge endpoint answering (or refusing the key). */
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSparkAsync } from './helpers/cli.js';

let base = '';
const server = createServer((req, res) => {
  const ok = req.headers.authorization === 'Bearer good-key';
  res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
  res.end(JSON.stringify(ok ? { data: [{ id: 'gpt-4o' }] } : { error: { message: 'bad key' } }));
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
});
afterAll(() => { server.close(); });

describe('spark doctor', () => {
  it('reports the engine and each setup check; the offline judge needs nothing', async () => {
    const r = await runSparkAsync(['doctor'], { SPARK_JUDGE_BASE_URL: '', OPENAI_API_KEY: '' });
    expect(r.stdout).toMatch(/^libtorch\s+1\.13/m);
    for (const check of ['data', 'encyclopedia', 'sandbox', 'disk']) expect(r.stdout).toMatch(new RegExp(`^${check}\\s+ok `, 'm'));
    expect(r.stdout).toMatch(/^judge\s+ok\s+offline judge/m);
  });

  it('says when the judge endpoint refuses the key, and exits non-zero', async () => {
    const bad = await runSparkAsync(['doctor'], { SPARK_JUDGE_BASE_URL: base, OPENAI_API_KEY: 'wrong' });
    expect(bad.stdout).toMatch(/^judge\s+FIX .*refuses the key \(HTTP 401\): check OPENAI_API_KEY/m);
    expect(bad.code).toBe(1);
    const good = await runSparkAsync(['doctor'], { SPARK_JUDGE_BASE_URL: base, OPENAI_API_KEY: 'good-key' });
    expect(good.stdout).toMatch(/^judge\s+ok\s+http:\/\/127\.0\.0\.1:\d+\/v1 reachable/m);
  });
});
