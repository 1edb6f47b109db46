/**
 * The results table a pipeline run ends with: per-category accuracy of each model in each mode, then
 * tool-selection entropy per model (agentic mode), and whether SPaRK's entropy is above SFT's and the
 * base's — as measured, not assumed.
 */
import { EvalMode, type ModelResult, type Report } from '../../common/gen/spark/v1/evaluator.js';

const MODE_LABEL: Record<number, string> = { [EvalMode.EVAL_MODE_COT_5SHOT]: 'cot', [EvalMode.EVAL_MODE_AGENTIC]: 'tools' };

const pct = (x: number | undefined) => (x === undefined ? '   -  ' : `${(100 * x).toFixed(1).padStart(5)}%`);

export function resultsTable(report: Report): string {
  const results = [...report.results].sort((a, b) => a.mode - b.mode);
  const columns = results.map((r) => `${r.model}/${MODE_LABEL[r.mode] ?? r.mode}`);
  const categories = [...new Set(results.flatMap((r) => Object.keys(r.categories)))].sort();
  const width = Math.max(18, ...categories.map((c) => c.length));
  const colWidth = Math.max(8, ...columns.map((c) => c.length));
  const row = (label: string, cells: string[]) => `${label.padEnd(width)}  ${cells.map((c) => c.padStart(colWidth)).join('  ')}`;
  const lines = [
    row('accuracy', columns),
    ...categories.map((c) => row(c, results.map((r) => pct(r.categories[c]?.accuracy)))),
    row('overall', results.map((r) => pct(r.overall?.accuracy))),
    row('n', results.map((r) => String(r.overall?.n ?? 0))),
    '',
  ];
  const agentic = results.filter((r) => r.mode === EvalMode.EVAL_MODE_AGENTIC);
  if (agentic.length) {
    const w = Math.max(...agentic.map((r) => r.model.length), 5);
    lines.push(`${'tool-selection entropy (agentic)'}`);
    for (const r of agentic) {
      const steps = Object.values(r.actionCounts).reduce((a, b) => a + b, 0);
      lines.push(`  ${r.model.padEnd(w)}  ${r.toolEntropyBits.toFixed(3)} bits  (normalised ${r.normalizedToolEntropy.toFixed(3)}, 95% CI ${r.toolEntropyCiLow.toFixed(3)}–${r.toolEntropyCiHigh.toFixed(3)}; ${steps} steps, ${r.malformedToolCalls} malformed calls)`);
    }
    lines.push(entropyVerdict(agentic));
  }
  return lines.join('\n');
}

/** One line saying whether SPaRK's measured entropy beats SFT's and the base's. */
export function entropyVerdict(agentic: readonly ModelResult[]): string {
  const by = Object.fromEntries(agentic.map((r) => [r.model, r.toolEntropyBits]));
  if (by.spark === undefined) return '';
  const others = Object.entries(by).filter(([m]) => m !== 'spark');
  const beaten = others.filter(([, h]) => by.spark! > h).map(([m]) => m);
  return beaten.length === others.length
    ? `SPaRK's tool-selection entropy is above ${others.map(([m]) => m).join(' and ')}'s in this run.`
    : `SPaRK's tool-selection entropy is NOT above ${others.filter(([m]) => !beaten.includes(m)).map(([m]) => m).join(' and ')}'s in this run (measured).`;
}
