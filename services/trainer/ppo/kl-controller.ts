/**
 * The KL coefficient β of the KL-to-reference term: fixed, or adapted towards a target KL with the
 * proportional controller of Ziegler et al. 2019, "Fine-Tuning Language Models from Human Preferences"
 * (arXiv 1909.08593, §2.2): e_t = clip(KL_t / KL_target − 1, −0.2, 0.2), β ← β (1 + K_β e_t), with
 * K_β = nSteps / horizon. A pure state → state function, so the state goes into checkpoints as JSON and
 * a resumed run continues the same coefficient.
 */
import { InvalidArgumentError } from '../../common/errors.js';

export type KlControl =
  | { kind: 'fixed'; coef: number }
  | {
      kind: 'adaptive';
      coef: number;
      /** The KL (per token, in the estimator's units) the controller steers towards. */
      targetKl: number;
      /** Steps over which a sustained error changes β by about e^{±0.2}; larger = slower. */
      horizon: number;
    };

/** Bound on the proportional error, from the paper: one noisy batch cannot swing β by more than 20 %/horizon. */
export const KL_ERROR_CLIP = 0.2;

/** The controller state after observing `currentKl` over `nSteps` optimiser steps. */
export function updateKlControl(control: KlControl, currentKl: number, nSteps = 1): KlControl {
  if (control.kind === 'fixed') return control;
  if (!(control.targetKl > 0)) throw new InvalidArgumentError('target_kl', `must be > 0 for the adaptive controller (got ${control.targetKl})`);
  if (!(control.horizon > 0)) throw new InvalidArgumentError('kl_horizon', `must be > 0 (got ${control.horizon})`);
  if (!Number.isFinite(currentKl)) return control; // a NaN batch must not poison β for the rest of the run
  const error = Math.min(Math.max(currentKl / control.targetKl - 1, -KL_ERROR_CLIP), KL_ERROR_CLIP);
  return { ...control, coef: control.coef * (1 + (error * nSteps) / control.horizon) };
}
