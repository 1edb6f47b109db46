"""PyTorch eager side of scripts/bench/model.ts: the same Llama (tests/helpers/torch_reference.py, HF
modeling_llama semantics) on the same checkpoint, same threads and environment, driven over stdin/stdout
so the two sides can take turns on the same CPU.

    python3 model_torch.py MODEL_DIR THREADS
stdin, one JSON command per line; stdout, one JSON reply per line:
    {"cmd": "train", "steps": N, "batch": B, "seq": T, "rank": R, "seed": S}  -> {"times": [seconds per step]}
    {"cmd": "generate", "batch": B, "prompt": P, "new": N, "seed": S}         -> {"seconds": s, "tokens": B*N}
Train step = LoRA (all 7 projections, PEFT init, dropout 0.05) forward + token cross-entropy + backward +
grad-norm clip + AdamW. Generation = greedy decoding with the HF-style growing KV cache (torch.cat).
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "helpers"))
from torch_reference import Llama  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def train(model, cmd, vocab):
    torch.manual_seed(cmd.get("seed", 0))
    params = model.add_lora(cmd["rank"], 2 * cmd["rank"], 0.05, TARGETS)
    model.train()
    opt = torch.optim.AdamW(params, lr=1e-4)
    ids = torch.randint(0, vocab, (cmd["batch"], cmd["seq"] + 1))
    times = []
    for _ in range(cmd["steps"]):
        t0 = time.perf_counter()
        logits, _ = model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    model.eval()
    return {"times": times, "loss": loss.item()}


@torch.no_grad()
def generate(model, cmd, vocab):
    torch.manual_seed(cmd.get("seed", 0))
    b, new = cmd["batch"], cmd["new"]
    ids = torch.randint(0, vocab, (b, cmd["prompt"]))
    model.set_adapters(False)
    t0 = time.perf_counter()
    logits, past = model(ids)
    tok = logits[:, -1].argmax(-1, keepdim=True)
    out = [tok]
    for _ in range(new - 1):
        logits, past = model(tok, past=past)
        tok = logits[:, -1].argmax(-1, keepdim=True)
        out.append(tok)
    seconds = time.perf_counter() - t0
    model.set_adapters(True)
    return {"seconds": seconds, "tokens": b * new, "first": torch.cat(out, 1)[0, :8].tolist()}


def main():
    model_dir, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    model = Llama(model_dir)
    vocab = model.cfg["vocab_size"]
    print(json.dumps({"ready": True, "threads": torch.get_num_threads(), "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        reply = train(model, cmd, vocab) if cmd["cmd"] == "train" else generate(model, cmd, vocab)
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
