/**
 * The evaluation report: its markdown and HTML figures from known results, then the HTML rendered by
 * headless Chromium — the DOM it builds holds one accuracy bar per category per model, and the
 * screenshot really shows the model colours.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACTION_NAMES } from '../services/common/actions.js';
import { CATEGORIES } from '../services/dataset/categories.js';
import { summarize, type EvalSummary } from '../services/evaluator/aggregate.js';
import { SERIES_COLORS } from '../services/evaluator/charts.js';
import { renderHtml, renderMarkdown, writeReport } from '../services/evaluator/report.js';
import type { EvalRecord } from '../services/evaluator/results.js';
import { tempDir } from './helpers/service.js';

const MODELS = ['base', 'sft', 'spark'];

/**
 * 3 models × 2 modes × 28 questions (2 per category). Accuracy rises base → sft → spark; in agentic mode
 * base only thinks, sft uses two tools, spark spreads its steps over all 9 actions.
 */
function records(): EvalRecord[] {
  const out: EvalRecord[] = [];
  CATEGORIES.forEach((category, ci) => {
    for (let k = 0; k < 2; k++) {
      const id = 100 + ci * 2 + k;
      MODELS.forEach((model, mi) => {
        for (const mode of ['cot_5shot', 'agentic'] as const) {
          const correct = (ci + k + mi) % 3 !== 0 || mi === 2;
          const actions = mode === 'cot_5shot' ? [] : mi === 0 ? ['cot'] : mi === 1 ? ['calculator', 'cot'] : [ACTION_NAMES[(id + 0) % 9], ACTION_NAMES[(id + 4) % 9], 'cot'];
          out.push({
            model, mode, question_id: id, category, answer: 'A', response: correct ? 'the answer is (A)' : 'the answer is (B)',
            predicted: correct ? 'A' : 'B', rule: 'answer_is', guessed: false, correct, outcome: correct ? 'correct' : 'wrong', actions, duration_ms: 5,
          });
        }
      });
    }
  });
  return out;
}

describe('report content', () => {
  let summary: EvalSummary;
  beforeAll(() => { summary = summarize(records(), { models: MODELS, modes: ['cot_5shot', 'agentic'], bootstrapIterations: 200, seed: 1 }); });

  it('summarises accuracy, entropy and comparisons per model and mode', () => {
    expect(summary.results.map((r) => `${r.model}/${r.mode}`)).toEqual(['base/cot_5shot', 'sft/cot_5shot', 'spark/cot_5shot', 'base/agentic', 'sft/agentic', 'spark/agentic']);
    const spark = summary.results.find((r) => r.model === 'spark' && r.mode === 'agentic')!;
    expect(spark.overall).toEqual({ accuracy: 1, n: 28, noAnswer: 0 });
    expect(summary.results.find((r) => r.model === 'base' && r.mode === 'agentic')!.toolEntropyBits).toBe(0);
    expect(summary.results.find((r) => r.model === 'sft' && r.mode === 'agentic')!.toolEntropyBits).toBeCloseTo(1, 12);
    expect(spark.toolEntropyBits).toBeGreaterThan(2.5);
    expect(spark.toolEntropyCi.low).toBeLessThanOrEqual(spark.toolEntropyBits);
    expect(spark.normalizedToolEntropy).toBeCloseTo(spark.toolEntropyBits / Math.log2(9), 12);
    expect(Object.keys(spark.categoryToolEntropyBits)).toEqual([...CATEGORIES]);
    expect(summary.comparisons).toHaveLength(6);
    const baseVsSpark = summary.comparisons.find((c) => c.modelA === 'base' && c.modelB === 'spark' && c.mode === 'agentic')!;
    expect(baseVsSpark.n).toBe(28);
    expect(baseVsSpark.accuracyDiff).toBeGreaterThan(0);
    expect(baseVsSpark.pValue).toBeLessThan(0.05);
  });

  it('writes markdown tables with one row per model and mode, and per category', () => {
    const md = renderMarkdown(summary, 'SPaRK evaluation test');
    expect(md).toContain('| model | mode | accuracy | n | no answer | entropy (bits) | normalised | 95% CI (bits) |');
    expect(md).toMatch(/^\| spark \| agentic \| 100\.0% \| 28 \| 0 \| \d\.\d{3} \| 0\.\d{3} \| \[\d\.\d{3}, \d\.\d{3}\] \|$/m);
    expect(md).toMatch(/^\| base \| cot_5shot \| \d+\.\d% \| 28 \| 0 \| – \| – \| – \|$/m);
    for (const c of CATEGORIES) expect(md).toContain(`| ${c} |`);
    expect(md).toContain('## Paired comparisons (McNemar exact test)');
    expect(md).toMatch(/^\| cot \| 28 \| 28 \| 34 \|$/m);
  });

  it('draws one accuracy bar per category per model in each mode, and self-contained HTML', () => {
    const html = renderHtml(summary, 'SPaRK evaluation test', '2025-01-01T00:00:00Z');
    for (const mode of ['cot_5shot', 'agentic']) {
      expect(html.match(new RegExp(`<rect class="bar" data-kind="accuracy-${mode}"`, 'g'))).toHaveLength(14 * 3);
    }
    expect(html.match(/data-kind="entropy" data-series=/g)).toHaveLength(3);
    expect(html).not.toMatch(/<script|<link|src="http|href="http|@import/);
  });
});

/** Decodes an 8-bit RGB/RGBA PNG (non-interlaced) into its pixel rows: what a screenshot check needs. */
function decodePng(buf: Buffer): { width: number; height: number; channels: number; pixels: Buffer } {
  expect(buf.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let pos = 8;
  let width = 0; let height = 0; let colorType = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('ascii', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4); colorType = data[9];
      expect(data[8]).toBe(8); // bit depth
      expect(data[12]).toBe(0); // not interlaced
    }
    if (type === 'IDAT') idat.push(data);
    pos += 12 + len;
  }
  const channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  expect(channels).toBeGreaterThan(0);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x];
      const a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      const p = a + b - c;
      const pr = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      pixels[y * stride + x] = (v + [0, a, b, (a + b) >> 1, pr][filter]) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** Headless Chromium, locked down: no sandbox (root in a container), no network side traffic, fresh profile. */
function chromium(args: string[]) {
  const profile = tempDir('spark-chromium-');
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--hide-scrollbars', `--user-data-dir=${profile}`];
  return spawnSync(CHROMIUM!, [...flags, ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
}

describe.skipIf(!CHROMIUM)('report rendered by headless Chromium', () => {
  let htmlPath: string;
  let dir: string;

  beforeAll(() => {
    dir = tempDir('spark-eval-report-');
    const summary = summarize(records(), { models: MODELS, modes: ['cot_5shot', 'agentic'], bootstrapIterations: 200, seed: 1 });
    const written = writeReport(summary, dir, 'eval/test', 'SPaRK evaluation test');
    expect(written.html.uri).toBe('eval/test/report.html');
    expect(written.html.sizeBytes).toBeGreaterThan(10_000);
    htmlPath = join(dir, written.html.uri);
  });

  it('builds a DOM with one accuracy bar per category per model', () => {
    const r = chromium(['--dump-dom', `file://${htmlPath}`]);
    expect(r.status, r.stderr).toBe(0);
    const dom = r.stdout;
    expect(dom).toContain('<svg');
    for (const mode of ['cot_5shot', 'agentic']) {
      const bars = [...dom.matchAll(new RegExp(`<rect class="bar" data-kind="accuracy-${mode}" data-series="([^"]+)" data-group="([^"]+)"`, 'g'))];
      expect(bars).toHaveLength(CATEGORIES.length * MODELS.length);
      for (const model of MODELS) expect(bars.filter((b) => b[1] === model).map((b) => b[2]).sort()).toEqual([...CATEGORIES]);
    }
    expect(dom.match(/data-kind="action-usage" data-series="spark"/g)?.length).toBe(9);
  });

  it('takes a screenshot that shows the charts in the model colours', () => {
    const png = join(dir, 'report.png');
    const r = chromium([`--screenshot=${png}`, '--window-size=1280,2400', `file://${htmlPath}`]);
    expect(r.status, r.stderr).toBe(0);
    const image = decodePng(readFileSync(png));
    expect([image.width, image.height]).toEqual([1280, 2400]);
    // Count pixels of each model's colour: every model's bars must be visible, and a fair area of them.
    const counts = SERIES_COLORS.slice(0, 3).map((hex) => {
      const [r0, g0, b0] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      let n = 0;
      for (let i = 0; i < image.pixels.length; i += image.channels) {
        if (Math.abs(image.pixels[i] - r0) <= 3 && Math.abs(image.pixels[i + 1] - g0) <= 3 && Math.abs(image.pixels[i + 2] - b0) <= 3) n++;
      }
      return n;
    });
    for (const n of counts) expect(n).toBeGreaterThan(2_000);
    // Mostly white page with text and charts: neither blank nor one colour.
    let white = 0;
    for (let i = 0; i < image.pixels.length; i += image.channels) if (image.pixels[i] > 250 && image.pixels[i + 1] > 250 && image.pixels[i + 2] > 250) white++;
    const share = white / (image.width * image.height);
    expect(share).toBeGreaterThan(0.5);
    expect(share).toBeLessThan(0.98);
  });
});
