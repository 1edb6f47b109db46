/**
 * The reference gradients against central finite differences of the reference losses, on seeded random
 * inputs for every aggregation mode: these are what the fused native backward is compared with.
 */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../common/random.js';
import { LOSS_AGG_MODES } from './agg.js';
import { computeEntropy, type Logits } from './entropy.js';
import { computeKlLoss, KL_ESTIMATORS } from './kl.js';
import { zeros, type BatchMatrix } from './matrix.js';
import { POLICY_LOSSES, POLICY_LOSS_NAMES } from './policy-loss.js';
import { computeValueLoss } from './value-loss.js';

const BATCH = 3;
const RESP_LEN = 4;
const H = 1e-3;

function randomMatrix(seed: number, lo: number, hi: number): BatchMatrix {
  const rng = createRng(seed);
  const m = zeros(BATCH, RESP_LEN);
  for (let i = 0; i < m.data.length; i++) m.data[i] = lo + (hi - lo) * rng.float();
  return m;
}

const responseMask = (() => {
  const m = zeros(BATCH, RESP_LEN, 1);
  m.data[3] = 0; // row 0 has 3 tokens
  m.data[6] = m.data[7] = 0; // row 1 has 2
  return m;
})();

/** Central difference of f with respect to x.data[i], in float64 around the float32 value. */
function numericGrad(x: { data: Float32Array }, f: () => number): Float64Array {
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i]!;
    x.data[i] = v + H;
    const up = f();
    x.data[i] = v - H;
    const down = f();
    x.data[i] = v;
    out[i] = (up - down) / (2 * H);
  }
  return out;
}

function expectClose(analytic: Float32Array, numeric: Float64Array): void {
  for (let i = 0; i < numeric.length; i++) expect(analytic[i]!).toBeCloseTo(numeric[i]!, 3);
}

describe('reference gradients match finite differences', () => {
  const oldLogProb = randomMatrix(1, -3, -0.5);
  const advantages = randomMatrix(3, -1.5, 1.5);

  for (const name of POLICY_LOSS_NAMES) {
    for (const mode of LOSS_AGG_MODES) {
      it(`policy loss ${name}, ${mode}`, () => {
        // ratios spread over roughly [0.6, 1.6] so some tokens clip and some do not
        const logProb = randomMatrix(2, 0, 1);
        for (let i = 0; i < logProb.data.length; i++) logProb.data[i] = oldLogProb.data[i]! + Math.log(0.6 + logProb.data[i]!);
        const args = { oldLogProb, logProb, advantages, responseMask, lossAggMode: mode, clipEps: name === 'gspo' ? 0.05 : 0.2, clipRatioC: 1.4 };
        const fn = POLICY_LOSSES[name];
        expectClose(fn(args).gradLogProb.data, numericGrad(logProb, () => fn(args).loss));
      });
    }
  }

  for (const estimator of KL_ESTIMATORS) {
    it(`KL loss ${estimator}`, () => {
      const logProb = randomMatrix(4, -3, -0.2);
      const refLogProb = randomMatrix(5, -3, -0.2);
      const args = { logProb, refLogProb, responseMask, estimator, lossAggMode: 'seq-mean-token-mean' as const };
      expectClose(computeKlLoss(args).gradLogProb.data, numericGrad(logProb, () => computeKlLoss(args).loss));
    });
  }

  it('value loss', () => {
    const valuePreds = randomMatrix(6, -1, 2);
    const args = { valuePreds, oldValues: randomMatrix(7, 0, 1), returns: randomMatrix(8, 0, 1), responseMask, clipRangeValue: 0.4 };
    expectClose(computeValueLoss(args).gradValuePreds.data, numericGrad(valuePreds, () => computeValueLoss(args).loss));
  });

  it('entropy with respect to the logits', () => {
    const rng = createRng(9);
    const logits: Logits = { batch: BATCH, respLen: RESP_LEN, vocab: 5, data: Float32Array.from({ length: BATCH * RESP_LEN * 5 }, () => 4 * rng.float() - 2) };
    const args = { logits, responseMask, lossAggMode: 'token-mean' as const };
    expectClose(computeEntropy(args).gradLogits, numericGrad(logits, () => computeEntropy(args).loss));
  });
});
