/**
 * The evaluation report: one self-contained HTML file (inline CSS and SVG, nothing fetched) and a
 * markdown table, written atomically next to the results under the artifact root. It answers the
 * paper's question at a glance: accuracy per MMLU-Pro category for each model (base, SFT, SPaRK), how
 * each spreads its steps over the 9 actions, and the tool-selection entropy with its 95 % interval,
 * plus McNemar tests of the accuracy differences.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ACTION_NAMES, NUM_ACTIONS } from '../common/actions.js';
import { writeFileAtomic } from '../common/files.js';
import type { ArtifactRef } from '../common/gen/spark/v1/common.js';
import type { EvalSummary, ModelModeResult } from './aggregate.js';
import { escapeXml, groupedBars, intervalBars, stackedBars } from './charts.js';
import type { EvalModeName } from './spec.js';

export const REPORT_HTML = 'report.html';
export const REPORT_MD = 'report.md';

const MODE_TITLES: Record<EvalModeName, string> = { cot_5shot: '5-shot CoT (no tools)', agentic: 'agentic tool use' };
const MAX_ENTROPY_BITS = Math.log2(NUM_ACTIONS);

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const bits = (x: number) => x.toFixed(3);
const pValue = (p: number) => (p < 0.001 ? '<0.001' : p.toFixed(3));

/** Actions in the report's order: the 9 built-in ones, then any other the policies named. */
function actionOrder(results: readonly ModelModeResult[]): string[] {
  const extra = [...new Set(results.flatMap((r) => Object.keys(r.actionCounts)))].filter((a) => !(ACTION_NAMES as readonly string[]).includes(a)).sort();
  return [...ACTION_NAMES, ...extra];
}

/** The usage tables' last row: tool steps above whose call named the tool but did not parse. */
const MALFORMED_ROW = 'of which malformed calls (named, not run)';

function row(cells: readonly (string | number)[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** The markdown tables: summary, accuracy per category, comparisons, action usage. */
export function renderMarkdown(summary: EvalSummary, title: string): string {
  const lines = [`# ${title}`, '', '## Summary', ''];
  lines.push(row(['model', 'mode', 'accuracy', 'n', 'no answer', 'entropy (bits)', 'normalised', '95% CI (bits)']));
  lines.push(row(['---', '---', '---:', '---:', '---:', '---:', '---:', '---']));
  for (const r of summary.results) {
    const agentic = r.mode === 'agentic';
    lines.push(row([r.model, r.mode, pct(r.overall.accuracy), r.overall.n, r.overall.noAnswer,
      agentic ? bits(r.toolEntropyBits) : '–', agentic ? r.normalizedToolEntropy.toFixed(3) : '–',
      agentic ? `[${bits(r.toolEntropyCi.low)}, ${bits(r.toolEntropyCi.high)}]` : '–']));
  }
  lines.push('', '## Accuracy per category', '');
  lines.push(row(['category', ...summary.results.map((r) => `${r.model} (${r.mode})`)]));
  lines.push(row(['---', ...summary.results.map(() => '---:')]));
  for (const c of summary.categories) {
    lines.push(row([c, ...summary.results.map((r) => (r.categories[c] ? `${pct(r.categories[c].accuracy)} (${r.categories[c].n})` : '–'))]));
  }
  if (summary.comparisons.length) {
    lines.push('', '## Paired comparisons (McNemar exact test)', '');
    lines.push(row(['mode', 'model A', 'model B', 'questions', 'accuracy B − A', 'p-value']));
    lines.push(row(['---', '---', '---', '---:', '---:', '---:']));
    for (const c of summary.comparisons) lines.push(row([c.mode, c.modelA, c.modelB, c.n, `${c.accuracyDiff >= 0 ? '+' : ''}${(100 * c.accuracyDiff).toFixed(1)} pts`, pValue(c.pValue)]));
  }
  const agentic = summary.results.filter((r) => r.mode === 'agentic');
  if (agentic.length) {
    const actions = actionOrder(agentic);
    lines.push('', '## Action usage (agentic mode, steps per action)', '');
    lines.push(row(['action', ...agentic.map((r) => r.model)]));
    lines.push(row(['---', ...agentic.map(() => '---:')]));
    for (const a of actions) lines.push(row([a, ...agentic.map((r) => r.actionCounts[a] ?? 0)]));
    lines.push(row([MALFORMED_ROW, ...agentic.map((r) => r.malformedCalls)]));
  }
  return `${lines.join('\n')}\n`;
}

function htmlTable(head: readonly string[], body: ReadonlyArray<readonly (string | number)[]>, cls: string): string {
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead><tbody>`
    + body.map((cells) => `<tr>${cells.map((c) => `<td>${escapeXml(String(c))}</td>`).join('')}</tr>`).join('')
    + '</tbody></table>';
}

const CSS = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}thead{background:#f4f4f4}.chart{display:block;margin:12px 0;max-width:100%;height:auto}
.note{color:#555;font-size:13px}`;

/** The whole HTML document. */
export function renderHtml(summary: EvalSummary, title: string, generatedAt: string): string {
  const models = [...new Set(summary.results.map((r) => r.model))];
  const modes = [...new Set(summary.results.map((r) => r.mode))];
  const find = (model: string, mode: EvalModeName) => summary.results.find((r) => r.model === model && r.mode === mode);
  const parts: string[] = [];
  parts.push(`<h1>${escapeXml(title)}</h1><p class="note">Generated ${escapeXml(generatedAt)}. Accuracy is micro-averaged; answers are extracted with the MMLU-Pro reference rules. Entropy is the Shannon entropy of the actions over all steps (maximum log2 ${NUM_ACTIONS} = ${MAX_ENTROPY_BITS.toFixed(3)} bits); intervals are 95 % bootstraps over questions.</p>`);
  parts.push('<h2>Summary</h2>', htmlTable(
    ['model', 'mode', 'accuracy', 'n', 'no answer', 'entropy (bits)', 'normalised', '95% CI (bits)'],
    summary.results.map((r) => {
      const agentic = r.mode === 'agentic';
      return [r.model, r.mode, pct(r.overall.accuracy), r.overall.n, r.overall.noAnswer, agentic ? bits(r.toolEntropyBits) : '–', agentic ? r.normalizedToolEntropy.toFixed(3) : '–', agentic ? `[${bits(r.toolEntropyCi.low)}, ${bits(r.toolEntropyCi.high)}]` : '–'];
    }),
    'summary',
  ));
  parts.push('<h2>Accuracy per category</h2>');
  for (const mode of modes) {
    parts.push(groupedBars({
      title: `Accuracy per category — ${MODE_TITLES[mode]}`,
      groups: summary.categories,
      series: models,
      value: (model, category) => find(model, mode)?.categories[category]?.accuracy,
      kind: `accuracy-${mode}`,
      yLabel: 'accuracy',
    }));
  }
  const agentic = summary.results.filter((r) => r.mode === 'agentic');
  if (agentic.length) {
    const actions = actionOrder(agentic);
    parts.push('<h2>Tool selection</h2>');
    parts.push(stackedBars({ title: 'Action usage per model (share of steps, agentic mode)', rows: agentic.map((r) => r.model), segments: actions, count: (model, a) => find(model, 'agentic')?.actionCounts[a] ?? 0, kind: 'action-usage' }));
    parts.push(intervalBars({
      title: 'Tool-selection entropy with 95 % bootstrap interval',
      items: agentic.map((r) => ({ name: r.model, value: r.toolEntropyBits, low: r.toolEntropyCi.low, high: r.toolEntropyCi.high })),
      max: Math.ceil(MAX_ENTROPY_BITS),
      reference: { value: MAX_ENTROPY_BITS, label: `max log2 ${NUM_ACTIONS}` },
      kind: 'entropy',
      yLabel: 'bits',
    }));
    parts.push(htmlTable(['action', ...agentic.map((r) => r.model)], [...actions.map((a) => [a, ...agentic.map((r) => r.actionCounts[a] ?? 0)]), [MALFORMED_ROW, ...agentic.map((r) => r.malformedCalls)]], 'actions'));
  }
  if (summary.comparisons.length) {
    parts.push('<h2>Paired comparisons (McNemar exact test)</h2>', htmlTable(
      ['mode', 'model A', 'model B', 'questions', 'accuracy B − A', 'p-value'],
      summary.comparisons.map((c) => [c.mode, c.modelA, c.modelB, c.n, `${c.accuracyDiff >= 0 ? '+' : ''}${(100 * c.accuracyDiff).toFixed(1)} pts`, pValue(c.pValue)]),
      'comparisons',
    ));
  }
  parts.push('<h2>Accuracy per category (table)</h2>', htmlTable(
    ['category', ...summary.results.map((r) => `${r.model} (${r.mode})`)],
    summary.categories.map((c) => [c, ...summary.results.map((r) => (r.categories[c] ? `${pct(r.categories[c].accuracy)} (${r.categories[c].n})` : '–'))]),
    'categories',
  ));
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeXml(title)}</title><style>${CSS}</style></head><body>${parts.join('\n')}</body></html>\n`;
}

function artifact(uri: string, mediaType: string, content: string): ArtifactRef {
  const bytes = Buffer.from(content);
  return { uri, mediaType, sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length };
}

export interface WrittenReport {
  html: ArtifactRef;
  markdown: ArtifactRef;
  markdownText: string;
}

/** Writes report.html and report.md into `outDir` (relative to `artifactRoot`), atomically. */
export function writeReport(summary: EvalSummary, artifactRoot: string, outDir: string, title: string, now = new Date()): WrittenReport {
  const html = renderHtml(summary, title, now.toISOString());
  const markdownText = renderMarkdown(summary, title);
  writeFileAtomic(join(artifactRoot, outDir, REPORT_HTML), html);
  writeFileAtomic(join(artifactRoot, outDir, REPORT_MD), markdownText);
  return { html: artifact(`${outDir}/${REPORT_HTML}`, 'text/html', html), markdown: artifact(`${outDir}/${REPORT_MD}`, 'text/markdown', markdownText), markdownText };
}
