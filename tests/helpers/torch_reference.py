"""A straightforward PyTorch Llama-3.x (HF transformers' modeling_llama.py semantics, eager ops only),
the reference the TypeScript model is checked against and the baseline of scripts/bench/model_torch.py.

Reads a checkpoint folder written in the real formats (config.json, safetensors incl. sharded index) and an
optional PEFT LoRA adapter folder. Runs on Debian's python3-torch (1.13): no transformers, no safetensors
package, so both formats are parsed here.

Command line (used by tests/model_parity.test.ts):
    python3 torch_reference.py REQUEST.json
REQUEST: {"cmd": "forward", "model": DIR, "ids": [[...]], "attention_mask": [[...]] | null,
          "lora": ADAPTER_DIR | null, "threads": N, "out": FILE.safetensors}
writes {"logits": float32 [batch, seq, vocab]} to `out` in safetensors format.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F64": torch.float64,
          "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:end]), dtype=DTYPES[e["dtype"]]) if end > b else torch.empty(0, dtype=DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    header, blobs, at = {}, [], 0
    code = {v: k for k, v in DTYPES.items()}
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": code[t.dtype], "shape": list(t.shape), "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


def read_checkpoint(d):
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    weights = {}
    for f in files:
        weights.update(read_safetensors(os.path.join(d, f)))
    return weights


def rope_inv_freq(cfg, head_dim):
    base = cfg.get("rope_theta", 500000.0)
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    rs = cfg.get("rope_scaling")
    if not rs or rs.get("rope_type", rs.get("type", "llama3")) != "llama3":
        return inv_freq
    factor, low, high = rs["factor"], rs.get("low_freq_factor", 1.0), rs.get("high_freq_factor", 4.0)
    old = rs.get("original_max_position_embeddings", 8192)
    low_wavelen, high_wavelen = old / low, old / high
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
    medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, inv_freq_llama)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class RMSNorm(torch.nn.Module):
    def __init__(self, weight, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class LoraLinear(torch.nn.Module):
    """A frozen linear with an optional PEFT-style LoRA branch."""

    def __init__(self, weight):
        super().__init__()
        self.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.lora_A = self.lora_B = None
        self.scaling, self.dropout, self.enabled = 1.0, torch.nn.Identity(), True

    def forward(self, x):
        y = F.linear(x, self.weight)
        if self.lora_A is not None and self.enabled:
            y = y + F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B) * self.scaling
        return y


class Attention(torch.nn.Module):
    def __init__(self, w, p, cfg):
        super().__init__()
        self.nh, self.nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
        self.hd = cfg.get("head_dim") or cfg["hidden_size"] // self.nh
        self.q_proj, self.k_proj = LoraLinear(w[p + "q_proj.weight"]), LoraLinear(w[p + "k_proj.weight"])
        self.v_proj, self.o_proj = LoraLinear(w[p + "v_proj.weight"]), LoraLinear(w[p + "o_proj.weight"])

    def forward(self, x, cos, sin, mask, past):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        present = (k, v)
        g = self.nh // self.nkv
        k = k[:, :, None].expand(b, self.nkv, g, k.shape[2], self.hd).reshape(b, self.nh, k.shape[2], self.hd)
        v = v[:, :, None].expand(b, self.nkv, g, v.shape[2], self.hd).reshape(b, self.nh, v.shape[2], self.hd)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.hd)
        if mask is not None:
            scores = scores + mask
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, self.nh * self.hd)
        return self.o_proj(out), present


class Layer(torch.nn.Module):
    def __init__(self, w, i, cfg):
        super().__init__()
        p = f"model.layers.{i}."
        eps = cfg.get("rms_norm_eps", 1e-5)
        self.input_layernorm = RMSNorm(w[p + "input_layernorm.weight"], eps)
        self.post_attention_layernorm = RMSNorm(w[p + "post_attention_layernorm.weight"], eps)
        self.self_attn = Attention(w, p + "self_attn.", cfg)
        self.gate_proj = LoraLinear(w[p + "mlp.gate_proj.weight"])
        self.up_proj = LoraLinear(w[p + "mlp.up_proj.weight"])
        self.down_proj = LoraLinear(w[p + "mlp.down_proj.weight"])

    def forward(self, x, cos, sin, mask, past):
        a, present = self.self_attn(self.input_layernorm(x), cos, sin, mask, past)
        x = x + a
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h)), present


class Llama(torch.nn.Module):
    def __init__(self, model_dir, dtype=torch.float32):
        super().__init__()
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        w = {k: v.to(dtype) for k, v in read_checkpoint(model_dir).items()}
        self.cfg = cfg
        self.embed_tokens = torch.nn.Parameter(w["model.embed_tokens.weight"], requires_grad=False)
        self.layers = torch.nn.ModuleList([Layer(w, i, cfg) for i in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(w["model.norm.weight"], cfg.get("rms_norm_eps", 1e-5))
        head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
        self.lm_head = torch.nn.Parameter(head, requires_grad=False)
        hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
        self.inv_freq = rope_inv_freq(cfg, hd)

    def linears(self):
        for i, layer in enumerate(self.layers):
            for group, name, lin in [("self_attn", "q_proj", layer.self_attn.q_proj), ("self_attn", "k_proj", layer.self_attn.k_proj),
                                     ("self_attn", "v_proj", layer.self_attn.v_proj), ("self_attn", "o_proj", layer.self_attn.o_proj),
                                     ("mlp", "gate_proj", layer.gate_proj), ("mlp", "up_proj", layer.up_proj), ("mlp", "down_proj", layer.down_proj)]:
                yield f"base_model.model.model.layers.{i}.{group}.{name}", name, lin

    def add_lora(self, rank, alpha, dropout, targets, tensors=None):
        """PEFT-initialised LoRA (or the given PEFT tensors) on `targets`; returns the trainable params."""
        params = []
        for key, name, lin in self.linears():
            if name not in targets:
                continue
            if tensors is not None:
                a, b = tensors[key + ".lora_A.weight"].float(), tensors[key + ".lora_B.weight"].float()
            else:
                a = torch.empty(rank, lin.weight.shape[1])
                torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
                b = torch.zeros(lin.weight.shape[0], rank)
            lin.lora_A, lin.lora_B = torch.nn.Parameter(a), torch.nn.Parameter(b)
            lin.scaling = alpha / rank
            lin.dropout = torch.nn.Dropout(dropout) if dropout > 0 else torch.nn.Identity()
            params += [lin.lora_A, lin.lora_B]
        return params

    def load_lora(self, adapter_dir):
        c = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
        tensors = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
        return self.add_lora(c["r"], c["lora_alpha"], c.get("lora_dropout", 0.0), c["target_modules"], tensors)

    def set_adapters(self, enabled):
        for _, _, lin in self.linears():
            lin.enabled = enabled

    def forward(self, ids, attention_mask=None, past=None, position_ids=None):
        """logits (float32) [b, t, vocab] and the new cache (a list of (k, v) per layer, grown by cat)."""
        b, t = ids.shape
        past_len = 0 if past is None else past[0][0].shape[2]
        if position_ids is None:
            if attention_mask is not None:
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -t:]
            else:
                position_ids = torch.arange(past_len, past_len + t).unsqueeze(0).expand(b, t)
        freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        x = F.embedding(ids, self.embed_tokens)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        s = past_len + t
        allowed = torch.arange(s)[None, :] <= (torch.arange(t) + past_len)[:, None]
        if attention_mask is not None:
            allowed = allowed[None] & attention_mask.bool()[:, None, :]
        else:
            allowed = allowed[None].expand(b, t, s)
        mask = None
        if t > 1 or attention_mask is not None:
            mask = torch.zeros(b, 1, t, s, dtype=x.dtype).masked_fill(~allowed[:, None], torch.finfo(x.dtype).min)
        presents = []
        for i, layer in enumerate(self.layers):
            x, present = layer(x, cos, sin, mask, None if past is None else past[i])
            presents.append(present)
        x = self.norm(x)
        return F.linear(x, self.lm_head).float(), presents


def main():
    req = json.load(open(sys.argv[1]))
    torch.set_num_threads(int(req.get("threads", 1)))
    model = Llama(req["model"])
    if req.get("lora"):
        model.load_lora(req["lora"])
        model.set_adapters(req.get("adapters", True))
    ids = torch.tensor(req["ids"], dtype=torch.long)
    mask = torch.tensor(req["attention_mask"], dtype=torch.long) if req.get("attention_mask") else None
    with torch.no_grad():
        logits, _ = model(ids, attention_mask=mask)
    write_safetensors(req["out"], {"logits": logits})


if __name__ == "__main__":
    main()
