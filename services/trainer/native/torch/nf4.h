// NF4 4-bit NormalFloat quantisation (QLoRA, Dettmers et al. 2023, arXiv 2305.14314): block-wise absmax
// scaling to [-1, 1], each value replaced by the nearest of 16 normal-quantile levels, two codes per byte
// with the first element in the high nibble (the bitsandbytes layout). Optional double quantisation stores
// the per-block absmax as 8-bit codes around their mean (QLoRA section 3) — here a linear int8 code per
// group of 256 absmax values rather than bitsandbytes' dynamic 8-bit map; the paper's saving (0.5 → ~0.127
// bits per parameter of quantisation constants) is the same. Weights are dequantised on the fly; the
// backward pass dequantises again instead of keeping the dense weight alive (bitsandbytes MatMul4Bit).
#pragma once
#include <torch/torch.h>
#include <ATen/Parallel.h>
#include <array>
#include <map>
#include <mutex>
#include <string>
#include "fused_cuda.h"

namespace spark {

/// The 16 NF4 levels (bitsandbytes csrc/kernels.cu, QLoRA appendix E).
inline constexpr std::array<float, 16> kNf4Levels = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

/// Absmax values per second-level group when double quantisation is on (QLoRA uses 256).
inline constexpr int64_t kNf4DoubleQuantGroup = 256;

struct Nf4Tensor {
  torch::Tensor codes;         // uint8 [numel/2]
  torch::Tensor absmax;        // fp32 [numel/block]; undefined when double-quantised
  torch::Tensor absmax_codes;  // uint8 [numel/block] (double quantisation)
  torch::Tensor absmax_scale;  // fp32 [ceil(blocks/256)] (double quantisation)
  double absmax_offset = 0;    // mean absmax (double quantisation)
  int64_t block = 64;
  std::vector<int64_t> shape;
  torch::ScalarType dtype = torch::kFloat;  // what dequantisation yields

  int64_t numel() const { return codes.numel() * 2; }
  int64_t nbytes() const {
    int64_t n = codes.nbytes();
    for (const auto* t : {&absmax, &absmax_codes, &absmax_scale})
      if (t->defined()) n += t->nbytes();
    return n;
  }
};

inline torch::Tensor nf4_levels(const torch::Device& device) {
  return torch::tensor(std::vector<float>(kNf4Levels.begin(), kNf4Levels.end()), torch::kFloat).to(device);
}

/// Both levels of every code byte, [256, 2] fp32 on `device`: row c = (level[c >> 4], level[c & 15]).
/// Built once per device (no host-to-device copy per dequantisation); never freed.
inline torch::Tensor nf4_pair_table(const torch::Device& device) {
  static std::mutex mu;
  static auto* tables = new std::map<std::string, torch::Tensor>();  // leaked: outlives the CUDA runtime at exit
  std::lock_guard<std::mutex> lock(mu);
  auto& t = (*tables)[device.str()];
  if (!t.defined()) {
    torch::NoGradGuard no_grad;
    const auto lv = nf4_levels(torch::kCPU);
    t = torch::stack({lv.repeat_interleave(16), lv.repeat({16})}, 1).contiguous().to(device);
  }
  return t;
}

/// The per-block absmax values, undoing double quantisation when it is on.
inline torch::Tensor nf4_block_absmax(const Nf4Tensor& q) {
  if (q.absmax.defined()) return q.absmax;
  const int64_t nb = q.absmax_codes.numel();
  const auto per_group = q.absmax_scale.repeat_interleave(kNf4DoubleQuantGroup).narrow(0, 0, nb);
  return (q.absmax_codes.to(torch::kFloat) - 128.0) * per_group + q.absmax_offset;
}

inline Nf4Tensor nf4_quantize(const torch::Tensor& w, int64_t block, bool double_quant, torch::ScalarType dtype) {
  TORCH_CHECK(block > 0 && block % 2 == 0, "NF4 block size must be a positive even number, got ", block);
  TORCH_CHECK(w.numel() % block == 0, "NF4 needs numel divisible by the block size: numel ", w.numel(), ", block ",
              block);
  Nf4Tensor q;
  q.block = block;
  q.shape = w.sizes().vec();
  q.dtype = dtype;
  torch::NoGradGuard no_grad;
  const auto blocks = w.detach().to(torch::kFloat).contiguous().view({-1, block});
  auto absmax = blocks.abs().amax(1);
  const auto safe = torch::where(absmax > 0, absmax, torch::ones_like(absmax));
  const auto normed = blocks / safe.unsqueeze(1);
  const auto levels = nf4_levels(w.device());
  const auto mids = (levels.narrow(0, 0, 15) + levels.narrow(0, 1, 15)) / 2;
  const auto idx = torch::bucketize(normed, mids).to(torch::kUInt8).view({-1, 2});
  q.codes = (idx.select(1, 0) * 16 + idx.select(1, 1)).to(torch::kUInt8).contiguous();
  if (!double_quant) {
    q.absmax = absmax.contiguous();
    return q;
  }
  const int64_t nb = absmax.numel();
  q.absmax_offset = absmax.mean().item<double>();
  auto centred = absmax - q.absmax_offset;
  const int64_t groups = (nb + kNf4DoubleQuantGroup - 1) / kNf4DoubleQuantGroup;
  auto padded = torch::zeros({groups * kNf4DoubleQuantGroup}, centred.options());
  padded.narrow(0, 0, nb).copy_(centred);
  auto scale = padded.view({groups, kNf4DoubleQuantGroup}).abs().amax(1) / 127.0;
  scale = torch::where(scale > 0, scale, torch::ones_like(scale));
  const auto codes = (padded.view({groups, kNf4DoubleQuantGroup}) / scale.unsqueeze(1)).round().clamp(-127, 127) + 128;
  q.absmax_codes = codes.view({-1}).narrow(0, 0, nb).to(torch::kUInt8).contiguous();
  q.absmax_scale = scale.contiguous();
  return q;
}

inline torch::Tensor nf4_dequantize(const Nf4Tensor& q) {
  const auto absmax = nf4_block_absmax(q).contiguous();
  if (q.codes.device().is_cpu() && (q.dtype == torch::kFloat || q.dtype == torch::kBFloat16)) {
    auto out = torch::empty(q.shape, torch::TensorOptions().dtype(q.dtype));
    const uint8_t* c = q.codes.data_ptr<uint8_t>();
    const float* a = absmax.data_ptr<float>();
    const int64_t half_block = q.block / 2, nb = absmax.numel();
    const auto run = [&](auto* o) {
      at::parallel_for(0, nb, 16, [&](int64_t b, int64_t e) {
        for (int64_t blk = b; blk < e; ++blk) {
          const float s = a[blk];
          const uint8_t* cb = c + blk * half_block;
          auto* ob = o + blk * q.block;
          for (int64_t i = 0; i < half_block; ++i) {
            ob[2 * i] = kNf4Levels[cb[i] >> 4] * s;
            ob[2 * i + 1] = kNf4Levels[cb[i] & 15] * s;
          }
        }
      });
    };
    if (q.dtype == torch::kFloat) run(out.data_ptr<float>());
    else run(out.data_ptr<at::BFloat16>());
    return out;
  }
  // CUDA with the fused kernels: one pass, a byte in and two values of q.dtype out.
  if (fused_cuda(q.codes.device(), q.dtype)) {
    auto out = torch::empty(q.shape, q.codes.options().dtype(q.dtype));
#ifdef SPARK_CUDA_KERNELS
    cuda::nf4_dequantize(q.codes.data_ptr<uint8_t>(), absmax.data_ptr<float>(), out.data_ptr(), q.codes.numel(), q.block,
                         cuda_dtype(q.dtype), cuda_stream(out));
#endif
    return out;
  }
  // Other devices: one gather of both levels of each code byte from a 256 × 2 table, then the block
  // scale, in fp32 as the CPU loop (so both round once, to the same values). Against splitting the
  // nibbles into int64 indices and stacking them, this moves about a third of the bytes.
  const auto pairs = nf4_pair_table(q.codes.device()).index_select(0, q.codes.to(torch::kInt));  // [numel/2, 2]
  return (pairs.view({-1, q.block}) * absmax.unsqueeze(1)).view(q.shape).to(q.dtype);
}

/// y = x @ dequant(W)ᵀ without keeping the dense W for backward (the frozen base of QLoRA gets no grad).
class Nf4MatmulFn : public torch::autograd::Function<Nf4MatmulFn> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const Nf4Tensor& w) {
    ctx->save_for_backward({w.codes, w.absmax, w.absmax_codes, w.absmax_scale});
    ctx->saved_data["block"] = w.block;
    ctx->saved_data["offset"] = w.absmax_offset;
    ctx->saved_data["shape"] = c10::IValue(w.shape);
    ctx->saved_data["dtype"] = static_cast<int64_t>(w.dtype);
    return torch::mm(x, nf4_dequantize(w).t());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    Nf4Tensor w;
    w.codes = saved[0];
    w.absmax = saved[1];
    w.absmax_codes = saved[2];
    w.absmax_scale = saved[3];
    w.block = ctx->saved_data["block"].toInt();
    w.absmax_offset = ctx->saved_data["offset"].toDouble();
    w.shape = ctx->saved_data["shape"].toIntVector();
    w.dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {torch::mm(grads[0], nf4_dequantize(w).to(grads[0].scalar_type())), torch::Tensor()};
  }
};

}  // namespace spark
