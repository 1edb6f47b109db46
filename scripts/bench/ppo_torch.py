"""One offline-PPO optimiser step in PyTorch eager: the baseline of scripts/bench/ppo.ts.

The model is tests/helpers/torch_reference.py's straightforward Llama (HF modeling_llama semantics) with
PEFT-initialised LoRA on all seven projections; the step is what the TypeScript trainer does:
forward of the policy (dropout on), clipped surrogate against the behaviour log-probs + k3 KL to the
reference (the same cached log-probs: both are the base with the adapters off; ppo_step.py), token
means, entropy for the metrics, backward, global
grad-norm clipping, AdamW. Logits are computed for the action positions only (as `logits_to_keep` does
in transformers), so both sides do the same work.

    /usr/bin/python3 scripts/bench/ppo_torch.py BATCH.json     (written by scripts/bench/ppo.ts)

Prints {"step_s": [seconds per timed step]} as its last line.
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "helpers"))
from torch_reference import Llama  # noqa: E402
from ppo_step import ppo_step  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class KeepLast(torch.nn.Module):
    """The final norm, applied to the last k positions only: the LM head after it then sees only those."""

    def __init__(self, norm):
        super().__init__()
        self.norm, self.k = norm, 0

    def forward(self, x):
        return self.norm(x[:, -self.k:] if self.k else x)


def main():
    req = json.load(open(sys.argv[1]))
    torch.set_num_threads(int(req["threads"]))
    torch.manual_seed(0)
    model = Llama(req["model"])
    model.norm = KeepLast(model.norm)
    params = model.add_lora(req["rank"], req["alpha"], req["dropout"], TARGETS)
    opt = torch.optim.AdamW(params, lr=req["lr"], weight_decay=0.0)

    ids = torch.tensor(req["ids"], dtype=torch.long)
    mask = torch.tensor(req["attention_mask"], dtype=torch.long) if req["attention_mask"] else None
    targets = torch.tensor(req["targets"], dtype=torch.long)
    rmask = torch.tensor(req["response_mask"], dtype=torch.float32)
    a = targets.shape[1]
    # collate drops each row's last token: the last A positions predict exactly the A action columns.
    model.norm.k = a
    rewards = torch.tensor(req["rewards"], dtype=torch.float32)
    adv = ((rewards - rewards.mean()) / (rewards.std() + 1e-6))[:, None] * rmask
    n_tokens = rmask.sum()

    def action_logprobs(adapters):
        model.set_adapters(adapters)
        logits, _ = model(ids, attention_mask=mask)
        model.set_adapters(True)
        return logits, torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)

    with torch.no_grad():
        model.eval()
        _, old = action_logprobs(False)  # behaviour log-probs: the initial policy (B = 0) = the base

    times = []
    eps = req["clip_eps"]
    for _ in range(req["warmup"] + req["steps"]):
        t0 = time.perf_counter()
        ppo_step(model, action_logprobs, old, adv, rmask, n_tokens, params, opt, eps, req["kl_coef"])
        times.append(time.perf_counter() - t0)
    print(json.dumps({"step_s": times[req["warmup"]:]}))


if __name__ == "__main__":
    main()
