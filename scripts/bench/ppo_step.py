"""The offline-PPO objective of the PyTorch baselines (ppo_torch.py on the CPU, gpu_torch.py on a GPU),
as the TypeScript trainer computes it (services/trainer/training/objective.ts): clipped surrogate against
the behaviour log-probs plus the k3 KL to the reference, both token means over the response mask, and the
policy's entropy for the metrics (no gradient)."""
import torch

LOG_RATIO_CLAMP = 20.0


def ppo_objective(logits, logp, old, ref, adv, rmask, n_tokens, clip_eps, kl_coef):
    """(loss, entropy) for action logits [b, a, vocab] and log-probs [b, a] of the policy, behaviour and reference."""
    ratio = torch.exp((logp - old).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
    pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip_eps, 1 + clip_eps))
    pg_loss = (pg * rmask).sum() / n_tokens
    log_r = (ref - logp).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    kl_loss = ((torch.exp(log_r) - 1 - log_r) * rmask).sum() / n_tokens
    with torch.no_grad():
        d = logits.detach()
        entropy = ((torch.logsumexp(d, -1) - (torch.softmax(d, -1) * d).sum(-1)) * rmask).sum() / n_tokens
    return pg_loss + kl_coef * kl_loss, entropy


def ppo_step(model, action_logprobs, old, adv, rmask, n_tokens, params, opt, clip_eps, kl_coef):
    """One optimiser step: policy forward (dropout on), the objective, backward, grad-norm clipping,
    AdamW; reads the loss and entropy as a trainer logs them. `action_logprobs(adapters)` returns (logits,
    log-probs) of the action tokens. The KL reference is the base with the adapters off, which is also the
    behaviour policy of offline PPO (fresh adapters start with B = 0): its log-probs `old`, computed once
    before training, serve as both, as in the trainer (services/trainer/training/behaviour.ts)."""
    model.train()
    logits, logp = action_logprobs(True)
    loss, entropy = ppo_objective(logits, logp, old, old, adv, rmask, n_tokens, clip_eps, kl_coef)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item(), entropy.item()
