import { describe, expect, it } from 'vitest';
import { computeKlLoss, klPenalty, klPenaltyGrad } from './kl.js';
import { updateKlControl, type KlControl } from './kl-controller.js';
import { fromRows, toRows } from './matrix.js';

describe('klPenalty (Schulman k1/k2/k3)', () => {
  // policy log-prob −1, reference −1.5: log r = ref − policy = −0.5
  const logProb = fromRows([[-1]]);
  const refLogProb = fromRows([[-1.5]]);

  it('k1 = −log r, k2 = ½ (log r)², k3 = r − 1 − log r', () => {
    expect(toRows(klPenalty(logProb, refLogProb, 'k1'))[0]![0]).toBeCloseTo(0.5, 6);
    expect(toRows(klPenalty(logProb, refLogProb, 'k2'))[0]![0]).toBeCloseTo(0.125, 6);
    expect(toRows(klPenalty(logProb, refLogProb, 'k3'))[0]![0]).toBeCloseTo(Math.exp(-0.5) - 0.5, 6);
  });

  it('all three are 0 when the policy equals the reference; k2 and k3 never go negative', () => {
    for (const k of ['k1', 'k2', 'k3'] as const) expect(toRows(klPenalty(logProb, logProb, k))[0]![0]).toBe(0);
    const up = klPenalty(fromRows([[-2, -0.1]]), fromRows([[-0.1, -2]]), 'k3');
    expect(Math.min(...up.data)).toBeGreaterThan(0);
  });

  it('clamps the log-ratio to ±20 so k3 stays finite and the gradient stops', () => {
    const far = klPenalty(fromRows([[-100, 0]]), fromRows([[0, -100]]), 'k3');
    expect(far.data[0]).toBeCloseTo(Math.exp(20) - 21, -2);
    expect(Number.isFinite(far.data[0]!)).toBe(true);
    expect(far.data[1]).toBeCloseTo(19, 5);
    expect(Array.from(klPenaltyGrad(fromRows([[-100]]), fromRows([[0]]), 'k3').data)).toEqual([0]);
  });

  it('rejects an unknown estimator listing k1, k2, k3', () => {
    expect(() => klPenalty(logProb, refLogProb, 'k4' as never)).toThrow('kl_estimator: unknown estimator "k4" (allowed: k1, k2, k3)');
  });

  it('computeKlLoss aggregates over action tokens and reports kl_ref (k1 mean)', () => {
    const r = computeKlLoss({
      logProb: fromRows([[-1, -1, 0]]),
      refLogProb: fromRows([[-1.5, -1, 0]]),
      responseMask: fromRows([[1, 1, 0]]),
      estimator: 'k2',
    });
    expect(r.loss).toBeCloseTo(0.125 / 2, 6);
    expect(r.metrics['actor/kl_loss']).toBeCloseTo(0.0625, 6);
    expect(r.metrics['actor/kl_ref']).toBeCloseTo(0.25, 6);
    // ∂k2/∂logProb = −log r = 0.5, weight 1/2
    expect(toRows(r.gradLogProb)[0]).toEqual([0.25, 0, 0]);
  });
});

describe('updateKlControl (Ziegler et al. 2019)', () => {
  const adaptive: KlControl = { kind: 'adaptive', coef: 0.1, targetKl: 0.05, horizon: 100 };

  it('a fixed coefficient never moves', () => {
    expect(updateKlControl({ kind: 'fixed', coef: 0.1 }, 10, 5)).toEqual({ kind: 'fixed', coef: 0.1 });
  });

  it('raises β when KL is above target and lowers it below, error clipped to ±0.2', () => {
    expect(updateKlControl(adaptive, 0.1).coef).toBeCloseTo(0.1 * (1 + 0.2 / 100), 10); // error 1 → 0.2
    expect(updateKlControl(adaptive, 0.1, 10).coef).toBeCloseTo(0.102, 10);
    expect(updateKlControl(adaptive, 0.04).coef).toBeCloseTo(0.1 * (1 - 0.2 / 100), 10);
    expect(updateKlControl(adaptive, 0.055).coef).toBeCloseTo(0.1 * (1 + 0.1 / 100), 10);
    expect(updateKlControl(adaptive, 0.05).coef).toBeCloseTo(0.1, 12);
  });

  it('converges towards the target over many steps when KL responds to β', () => {
    // a toy system where the KL reached is inversely proportional to β
    let control = adaptive;
    for (let step = 0; step < 5000; step++) control = updateKlControl(control, 0.01 / control.coef);
    expect(0.01 / control.coef).toBeCloseTo(0.05, 2);
  });

  it('ignores a NaN KL and rejects a bad target', () => {
    expect(updateKlControl(adaptive, Number.NaN)).toEqual(adaptive);
    expect(() => updateKlControl({ ...adaptive, targetKl: 0 }, 0.1)).toThrow(/target_kl: must be > 0/);
  });
});
