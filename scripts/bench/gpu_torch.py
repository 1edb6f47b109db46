"""The PyTorch-eager baseline of scripts/bench/gpu.ts: the same offline-PPO step on the same Llama shape,
batch and settings, written the straightforward way, on the same GPU — plus greedy generation with a
KV cache.

The model is HF modeling_llama's (RMSNorm in fp32, llama3 RoPE, grouped-query attention through
F.scaled_dot_product_attention, SwiGLU) with random weights N(0, 0.02) built on the device, in bf16;
frozen projections dense or NF4 (QLoRA: 64-element blocks, dequantised on the fly in the forward and
again in the backward, as bitsandbytes' MatMul4Bit), PEFT-style LoRA (fp32 A/B used in the activations'
dtype, dropout on the adapter input) on all seven projections, optional activation checkpointing per
block (torch.utils.checkpoint). The step is scripts/bench/ppo_torch.py's: policy forward (dropout on),
clipped surrogate against the behaviour log-probs + k3 KL to the reference (the same cached log-probs:
both are the base with the adapters off), token means, entropy for the metrics, backward, grad-norm
clipping, AdamW.

    python3 scripts/bench/gpu_torch.py REQUEST.json      (written by scripts/bench/gpu.ts)

REQUEST: the batch of scripts/bench/ppo-data.ts (ids, targets, response_mask, rewards, rank, alpha,
dropout, lr, clip_eps, kl_coef) plus {"shape": config.json fields, "device", "quantization": "none"|"nf4",
"checkpoint": bool, "steps", "warmup", "generate": [{"batch", "prompt", "new"}]}.
Prints one JSON line last: {"step_s": [...], "peak_mem_gb", "generate": [{"batch", "seconds", "tokens"}], "torch"}.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
import torch.utils.checkpoint

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "helpers"))
from torch_reference import RMSNorm, rope_inv_freq, rotate_half  # noqa: E402
from ppo_step import ppo_step  # noqa: E402

NF4_LEVELS = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
              -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
              0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
              0.7229568362236023, 1.0]
HAS_SDPA = hasattr(F, "scaled_dot_product_attention")
HAS_GQA = HAS_SDPA and tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 5)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------- NF4 (QLoRA)

def nf4_quantize(w, block=64):
    blocks = w.float().reshape(-1, block)
    absmax = blocks.abs().amax(1)
    normed = blocks / torch.where(absmax > 0, absmax, torch.ones_like(absmax))[:, None]
    levels = torch.tensor(NF4_LEVELS, device=w.device)
    idx = torch.bucketize(normed, (levels[:-1] + levels[1:]) / 2).to(torch.uint8).reshape(-1, 2)
    return (idx[:, 0] * 16 + idx[:, 1]).to(torch.uint8), absmax


def nf4_dequantize(codes, absmax, shape, dtype, block=64):
    levels = torch.tensor(NF4_LEVELS, device=codes.device)
    idx = torch.stack([(codes >> 4).long(), (codes & 15).long()], 1).reshape(-1, block)
    return (levels[idx] * absmax[:, None]).reshape(shape).to(dtype)


class Nf4Matmul(torch.autograd.Function):
    """x @ dequant(W)ᵀ; the backward dequantises again instead of keeping the dense W."""

    @staticmethod
    def forward(ctx, x, codes, absmax, shape):
        ctx.save_for_backward(codes, absmax)
        ctx.shape = shape
        return x @ nf4_dequantize(codes, absmax, shape, x.dtype).t()

    @staticmethod
    def backward(ctx, g):
        codes, absmax = ctx.saved_tensors
        return g @ nf4_dequantize(codes, absmax, ctx.shape, g.dtype), None, None, None


# ---------------------------------------------------------------- the model

class Linear(torch.nn.Module):
    """A frozen projection (dense bf16 or NF4) with a PEFT-style LoRA branch."""

    def __init__(self, out_f, in_f, dtype, device, nf4):
        super().__init__()
        w = torch.randn(out_f, in_f, dtype=dtype, device=device) * 0.02
        self.shape = (out_f, in_f)
        if nf4:
            codes, absmax = nf4_quantize(w)
            self.register_buffer("codes", codes)
            self.register_buffer("absmax", absmax)
            self.weight = None
        else:
            self.weight = torch.nn.Parameter(w, requires_grad=False)
        self.lora_A = self.lora_B = None
        self.scaling, self.dropout, self.enabled = 1.0, torch.nn.Identity(), True

    def add_lora(self, rank, alpha, dropout):
        a = torch.empty(rank, self.shape[1], device=self.lora_device())
        torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
        self.lora_A = torch.nn.Parameter(a)
        self.lora_B = torch.nn.Parameter(torch.zeros(self.shape[0], rank, device=a.device))
        self.scaling = alpha / rank
        self.dropout = torch.nn.Dropout(dropout) if dropout > 0 else torch.nn.Identity()
        return [self.lora_A, self.lora_B]

    def lora_device(self):
        return (self.weight if self.weight is not None else self.codes).device

    def forward(self, x):
        y = F.linear(x, self.weight) if self.weight is not None else Nf4Matmul.apply(x, self.codes, self.absmax, self.shape)
        if self.lora_A is not None and self.enabled:
            y = y + F.linear(F.linear(self.dropout(x), self.lora_A.to(x.dtype)), self.lora_B.to(x.dtype)) * self.scaling
        return y


class Block(torch.nn.Module):
    def __init__(self, cfg, dtype, device, nf4):
        super().__init__()
        h, i = cfg["hidden_size"], cfg["intermediate_size"]
        self.nh, self.nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.hd = h // self.nh
        eps = cfg.get("rms_norm_eps", 1e-5)
        self.input_layernorm = RMSNorm(torch.ones(h, dtype=dtype, device=device), eps)
        self.post_attention_layernorm = RMSNorm(torch.ones(h, dtype=dtype, device=device), eps)
        mk = lambda o, n: Linear(o, n, dtype, device, nf4)  # noqa: E731
        self.q_proj, self.k_proj = mk(self.nh * self.hd, h), mk(self.nkv * self.hd, h)
        self.v_proj, self.o_proj = mk(self.nkv * self.hd, h), mk(h, self.nh * self.hd)
        self.gate_proj, self.up_proj, self.down_proj = mk(i, h), mk(i, h), mk(h, i)

    def linears(self):
        return [self.q_proj, self.k_proj, self.v_proj, self.o_proj, self.gate_proj, self.up_proj, self.down_proj]

    def attend(self, q, k, v, past_len):
        b, t = q.shape[0], q.shape[2]
        causal = t > 1 and past_len == 0
        if HAS_GQA:
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
        g = self.nh // self.nkv
        k = k[:, :, None].expand(b, self.nkv, g, k.shape[2], self.hd).reshape(b, self.nh, k.shape[2], self.hd)
        v = v[:, :, None].expand(b, self.nkv, g, v.shape[2], self.hd).reshape(b, self.nh, v.shape[2], self.hd)
        if HAS_SDPA:
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        scores = q @ k.transpose(2, 3) / math.sqrt(self.hd)
        if causal:
            scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
        return torch.softmax(scores, -1, dtype=torch.float32).to(q.dtype) @ v

    def forward(self, x, cos, sin, cache=None, past_len=0):
        b, t, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, t, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(b, t, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(b, t, self.nkv, self.hd).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if cache is not None:  # preallocated [b, nkv, capacity, hd]
            cache[0][:, :, past_len:past_len + t] = k
            cache[1][:, :, past_len:past_len + t] = v
            k, v = cache[0][:, :, :past_len + t], cache[1][:, :, :past_len + t]
        a = self.attend(q, k, v, past_len).transpose(1, 2).reshape(b, t, self.nh * self.hd)
        x = x + self.o_proj(a)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(torch.nn.Module):
    def __init__(self, cfg, dtype, device, nf4):
        super().__init__()
        h, vocab = cfg["hidden_size"], cfg["vocab_size"]
        self.cfg, self.device = cfg, device
        self.embed_tokens = torch.nn.Parameter(torch.randn(vocab, h, dtype=dtype, device=device) * 0.02, requires_grad=False)
        self.layers = torch.nn.ModuleList([Block(cfg, dtype, device, nf4) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(torch.ones(h, dtype=dtype, device=device), cfg.get("rms_norm_eps", 1e-5))
        self.lm_head = torch.nn.Parameter(torch.randn(vocab, h, dtype=dtype, device=device) * 0.02, requires_grad=False)
        self.inv_freq = rope_inv_freq(cfg, h // cfg["num_attention_heads"]).to(device)
        self.checkpoint = False

    def add_lora(self, rank, alpha, dropout):
        return [p for layer in self.layers for lin in layer.linears() for p in lin.add_lora(rank, alpha, dropout)]

    def set_adapters(self, on):
        for layer in self.layers:
            for lin in layer.linears():
                lin.enabled = on

    def forward(self, ids, keep=0, cache=None, past_len=0):
        """fp32 logits of the last `keep` positions (all when 0)."""
        b, t = ids.shape
        pos = torch.arange(past_len, past_len + t, device=ids.device)
        freqs = pos[:, None].float() * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), -1)[None]
        x = F.embedding(ids, self.embed_tokens)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        for i, layer in enumerate(self.layers):
            if self.checkpoint and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(layer, x, cos, sin, use_reentrant=False)
            else:
                x = layer(x, cos, sin, None if cache is None else cache[i], past_len)
        x = self.norm(x[:, -keep:] if keep else x)
        return F.linear(x, self.lm_head).float()


# ---------------------------------------------------------------- the PPO step and generation

def train(model, req, device):
    ids = torch.tensor(req["ids"], dtype=torch.long, device=device)
    targets = torch.tensor(req["targets"], dtype=torch.long, device=device)
    rmask = torch.tensor(req["response_mask"], dtype=torch.float32, device=device)
    a = targets.shape[1]
    rewards = torch.tensor(req["rewards"], dtype=torch.float32, device=device)
    adv = ((rewards - rewards.mean()) / (rewards.std() + 1e-6))[:, None] * rmask
    n_tokens = rmask.sum()
    params = model.add_lora(req["rank"], req["alpha"], req["dropout"])
    opt = torch.optim.AdamW(params, lr=req["lr"], weight_decay=0.0)

    def action_logprobs(adapters):
        model.set_adapters(adapters)
        # collate drops each row's last token: the last A positions predict exactly the A action columns.
        logits = model(ids, keep=a)
        model.set_adapters(True)
        return logits, torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)

    with torch.no_grad():
        _, old = action_logprobs(False)  # behaviour log-probs: the initial policy (B = 0) = the base
    times = []
    eps = req["clip_eps"]
    for step in range(req["warmup"] + req["steps"]):
        if step == req["warmup"] and device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        sync(device)
        t0 = time.perf_counter()
        ppo_step(model, action_logprobs, old, adv, rmask, n_tokens, params, opt, eps, req["kl_coef"])
        sync(device)
        times.append(time.perf_counter() - t0)
    model.set_adapters(False)
    return times[req["warmup"]:]


@torch.no_grad()
def generate(model, batch, prompt, new, device):
    """Greedy decoding with a preallocated KV cache; each step's tokens and log-probs go to the host."""
    cfg = model.cfg
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    shape = (batch, cfg["num_key_value_heads"], prompt + new, hd)
    cache = [(torch.zeros(shape, dtype=model.embed_tokens.dtype, device=device),
              torch.zeros(shape, dtype=model.embed_tokens.dtype, device=device)) for _ in model.layers]
    ids = torch.randint(0, cfg["vocab_size"], (batch, prompt), device=device)
    sync(device)
    t0 = time.perf_counter()
    past, out = 0, []
    for _ in range(new):
        logits = model(ids, keep=1, cache=cache, past_len=past)[:, -1]
        past += ids.shape[1]
        tok = logits.argmax(-1)
        lp = torch.log_softmax(logits, -1).gather(-1, tok[:, None]).squeeze(-1)
        out.append((tok.cpu(), lp.cpu()))
        ids = tok[:, None]
    return time.perf_counter() - t0


def main():
    req = json.load(open(sys.argv[1]))
    device = torch.device(req.get("device", "cuda"))
    torch.manual_seed(0)
    nf4 = req.get("quantization", "none") == "nf4"
    model = Llama(req["shape"], torch.bfloat16, device, nf4)
    model.checkpoint = bool(req.get("checkpoint", False))
    result = {"torch": torch.__version__, "step_s": [], "peak_mem_gb": 0.0, "generate": []}
    if req.get("steps", 0) > 0:
        result["step_s"] = train(model, req, device)
        if device.type == "cuda":
            result["peak_mem_gb"] = torch.cuda.max_memory_allocated() / 1e9
    for g in req.get("generate", []):
        generate(model, g["batch"], g["prompt"], min(4, g["new"]), device)  # warm-up
        seconds = generate(model, g["batch"], g["prompt"], g["new"], device)
        result["generate"].append({"batch": g["batch"], "seconds": seconds, "tokens": g["batch"] * g["new"]})
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
