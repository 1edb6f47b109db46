import { describe, expect, it } from 'vitest';
import { EvalMode, Report } from '../../common/gen/spark/v1/evaluator.js';
import { resultsTable } from './table.js';

const result = (model: string, mode: EvalMode, acc: number, entropy: number) => ({
  model, mode, overall: { accuracy: acc, n: 28, noAnswer: 1 },
  categories: { biology: { accuracy: acc, n: 2, noAnswer: 0 }, 'computer science': { accuracy: 0.5, n: 2, noAnswer: 1 } },
  toolEntropyBits: entropy, normalizedToolEntropy: entropy / Math.log2(9), toolEntropyCiLow: entropy - 0.1, toolEntropyCiHigh: entropy + 0.1,
  actionCounts: { calculator: 50, encyclopedia: 30, cot: 4 }, malformedToolCalls: 12,
});

describe('resultsTable', () => {
  it('shows per-category accuracy per model and mode, and the entropy verdict', () => {
    const report = Report.fromPartial({
      results: [
        result('base', EvalMode.EVAL_MODE_AGENTIC, 0.25, 0.5), result('sft', EvalMode.EVAL_MODE_AGENTIC, 0.3, 1.2), result('spark', EvalMode.EVAL_MODE_AGENTIC, 0.3, 2.1),
        result('base', EvalMode.EVAL_MODE_COT_5SHOT, 0.2, 0),
      ],
    });
    const table = resultsTable(report);
    expect(table).toMatch(/^accuracy\s+base\/cot\s+base\/tools\s+sft\/tools\s+spark\/tools$/m);
    expect(table).toMatch(/^biology\s+20\.0%\s+25\.0%\s+30\.0%\s+30\.0%$/m);
    expect(table).toMatch(/^computer science\s+50\.0%/m);
    expect(table).toMatch(/spark\s+2\.100 bits\s+\(normalised 0\.662, 95% CI 2\.000–2\.200; 84 steps, 12 malformed calls\)/);
    expect(table).toContain("SPaRK's tool-selection entropy is above base and sft's in this run.");
  });

  it('says so when SPaRK does not beat a baseline', () => {
    const report = Report.fromPartial({ results: [result('sft', EvalMode.EVAL_MODE_AGENTIC, 0.3, 2.5), result('spark', EvalMode.EVAL_MODE_AGENTIC, 0.3, 2.1)] });
    expect(resultsTable(report)).toContain("SPaRK's tool-selection entropy is NOT above sft's in this run (measured).");
  });
});
