import { describe, expect, it } from 'vitest';
import { computeKlLoss, computePolicyLoss, fromRows } from '../ppo/index.js';
import { ppoObjective, sftObjective } from './objective.js';

const mask = fromRows([[0, 1, 1], [1, 1, 1]]);
const logProb = fromRows([[0, -1.2, -0.4], [-2.0, -0.3, -0.9]]);
const oldLogProb = fromRows([[0, -1.0, -0.5], [-2.1, -0.35, -0.8]]);
const refLogProb = fromRows([[0, -1.1, -0.6], [-1.9, -0.3, -1.0]]);
const advantages = fromRows([[0, 1, 1], [-0.5, -0.5, -0.5]]);
const settings = { policyLoss: 'vanilla' as const, clipEps: 0.2, lossAggMode: 'token-mean' as const, klEstimator: 'k3' as const, valueLossCoef: 0.5 };

describe('objectives', () => {
  it('ppo: surrogate + β·KL, with the summed gradient', () => {
    const r = ppoObjective({ oldLogProb, logProb, refLogProb, advantages, responseMask: mask, klCoef: 0.1 }, settings);
    const pg = computePolicyLoss({ oldLogProb, logProb, advantages, responseMask: mask, clipEps: 0.2 });
    const kl = computeKlLoss({ logProb, refLogProb, responseMask: mask, estimator: 'k3' });
    expect(r.loss).toBeCloseTo(pg.loss + 0.1 * kl.loss, 10);
    r.gradLogProb.data.forEach((g, i) => expect(g).toBeCloseTo(pg.gradLogProb.data[i]! + 0.1 * kl.gradLogProb.data[i]!, 6));
    expect(r.metrics).toMatchObject({ 'actor/kl_coef': 0.1, 'actor/pg_clipfrac': expect.any(Number), 'actor/kl_ref': expect.any(Number) });
  });

  it('ppo: the value loss joins with its coefficient', () => {
    const preds = fromRows([[0, 0.2, 0.3], [0.1, 0.1, 0.1]]);
    const returns = fromRows([[0, 1, 1], [0, 0, 0]]);
    const r = ppoObjective({ oldLogProb, logProb, refLogProb, advantages, responseMask: mask, klCoef: 0, values: { preds, returns } }, settings);
    expect(r.metrics['critic/vf_loss']).toBeGreaterThan(0);
    // token-mean over 5 tokens: ∂(0.5·0.5·mean (v−R)²)/∂v = 0.5·(v − R)/5
    expect(r.gradValues!.data[1]).toBeCloseTo((0.5 * (0.2 - 1)) / 5, 6);
    expect(r.gradValues!.data[0]).toBe(0);
  });

  it('sft: mean NLL of the action tokens and its gradient', () => {
    const r = sftObjective(logProb, mask, 'token-mean');
    expect(r.loss).toBeCloseTo((1.2 + 0.4 + 2.0 + 0.3 + 0.9) / 5, 6);
    expect(Array.from(r.gradLogProb.data, (g) => g + 0)).toEqual([0, -0.2, -0.2, -0.2, -0.2, -0.2].map(Math.fround));
  });
});
