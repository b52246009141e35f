// TrainModel::run: forward keeping activations, then the hand-written backward, layer by layer in reverse.
// Legend: B batch, T tokens, N = B*T, C hidden, H heads, KV kv heads, D head dim, Q = H*D, KVD = KV*D,
// F MLP width, V vocab, r LoRA rank. Mirrors src/model/forward.cpp (inference) op for op.
#include <algorithm>
#include <cmath>
#include <random>

#include "devops_model/core/error.h"
#include "devops_model/kernels/ops.h"
#include "devops_model/kernels/ops_backward.h"
#include "train_impl.h"

namespace dm {

namespace {

float* mut(const TensorView& v) { return v.empty() ? nullptr : const_cast<float*>(v.f32()); }

// A linear projection with its (optional) gradient slots and LoRA adapter.
struct Lin {
  const float* w = nullptr;
  const float* b = nullptr;
  float* dw = nullptr;  // null when frozen
  float* db = nullptr;
  int64_t in = 0, out = 0;
  // LoRA (when A is set): A (r, in); B (out, r) = this projection's rows of the module's B.
  const float* A = nullptr;
  float* dA = nullptr;
  const float* B = nullptr;
  float* dB = nullptr;
  int64_t r = 0;
  LoraActs* la = nullptr;  // the module's: dropped-out input and A·x, shared by fused projections
  bool computes_ax = true;  // false: a fused sibling already filled la in this forward
  float scale = 0.f;        // alpha / r
  float dropout = 0.f;
};

void add_into(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

// y (N, out) = x W^T + b (+ scale * B A dropout(x))
void lin_fwd(const Lin& L, const float* x, int64_t N, float* y, std::mt19937_64* rng) {
  linear_forward(x, L.w, L.b, N, L.in, L.out, y);
  if (!L.A) return;
  const int64_t r = L.r;
  if (L.computes_ax) {
    const float* xin = x;
    if (L.dropout > 0.f) {
      L.la->xd.resize(static_cast<size_t>(N * L.in));
      L.la->mask.resize(L.la->xd.size());
      std::bernoulli_distribution keep(1.0 - L.dropout);
      const float inv = 1.0f / (1.0f - L.dropout);
      for (size_t i = 0; i < L.la->xd.size(); ++i) {
        L.la->mask[i] = keep(*rng) ? 1 : 0;
        L.la->xd[i] = L.la->mask[i] ? x[i] * inv : 0.f;
      }
      xin = L.la->xd.data();
    }
    L.la->ax.resize(static_cast<size_t>(N * r));
    linear_forward(xin, L.A, nullptr, N, L.in, r, L.la->ax.data());
  }
  std::vector<float> tmp(static_cast<size_t>(N * L.out));
  linear_forward(L.la->ax.data(), L.B, nullptr, N, r, L.out, tmp.data());
  for (size_t i = 0; i < tmp.size(); ++i) y[i] += tmp[i] * L.scale;
}

// dx (N, in) += dy W (+ LoRA path); parameter grads += where trainable. Fused projections each add
// their share of dA and dx (the module's gradient is their sum).
void lin_bwd(const Lin& L, const float* dy, const float* x, int64_t N, float* dx) {
  linear_backward(dy, x, L.w, N, L.in, L.out, dx, L.dw, L.db);
  if (!L.A) return;
  const int64_t r = L.r;
  std::vector<float> dys(static_cast<size_t>(N * L.out)), dax(static_cast<size_t>(N * r), 0.f);
  for (size_t i = 0; i < dys.size(); ++i) dys[i] = dy[i] * L.scale;
  linear_backward(dys.data(), L.la->ax.data(), L.B, N, r, L.out, dax.data(), L.dB, nullptr);
  if (L.dropout > 0.f) {
    std::vector<float> dxd(static_cast<size_t>(N * L.in), 0.f);
    linear_backward(dax.data(), L.la->xd.data(), L.A, N, L.in, r, dxd.data(), L.dA, nullptr);
    const float inv = 1.0f / (1.0f - L.dropout);
    for (size_t i = 0; i < dxd.size(); ++i) dx[i] += L.la->mask[i] ? dxd[i] * inv : 0.f;
  } else {
    linear_backward(dax.data(), x, L.A, N, L.in, r, dx, L.dA, nullptr);
  }
}

std::vector<double> train_inv_freq(const ModelConfig& c) {
  // As the inference forward at NTK alpha 1: base ** (2j / rd) with the exponent in f32.
  std::vector<double> f(static_cast<size_t>(c.rotary_dim / 2));
  for (size_t j = 0; j < f.size(); ++j) {
    const float expo = static_cast<float>(2 * j) / static_cast<float>(c.rotary_dim);
    f[j] = static_cast<float>(1.0 / std::pow(c.rope_theta, static_cast<double>(expo)));
  }
  return f;
}

void zeros(std::vector<float>& v, int64_t n) { v.assign(static_cast<size_t>(n), 0.f); }

}  // namespace

double TrainModel::run(const int32_t* ids, const int32_t* labels, int64_t B, int64_t T, float grad_scale,
                       bool backward) {
  const ModelConfig& c = config_;
  const int64_t N = B * T, C = c.hidden_size, H = c.num_heads, KV = c.num_kv_heads, D = c.head_dim,
                F = c.intermediate_size, V = c.vocab_size, Q = c.q_dim(), KVD = c.kv_dim();
  const float eps = c.rms_norm_eps, scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (int64_t n = 0; n < N; ++n)
    if (ids[n] < 0 || ids[n] >= V) fail(ErrorKind::kInvalidArgument, "token id ", ids[n], " out of range [0, ", V, ")");
  // HF shift: position t predicts labels[t + 1]; the last position of each sequence predicts nothing.
  std::vector<int32_t> tgt(static_cast<size_t>(N), -100), pos(static_cast<size_t>(N));
  int64_t count = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t n = b * T + t;
      pos[static_cast<size_t>(n)] = static_cast<int32_t>(t);
      if (t + 1 < T && labels[n + 1] >= 0) {
        if (labels[n + 1] >= V) fail(ErrorKind::kInvalidArgument, "label ", labels[n + 1], " out of range");
        tgt[static_cast<size_t>(n)] = labels[n + 1];
        ++count;
      }
    }
  if (count == 0) return 0.0;
  const std::vector<double> inv_freq = train_inv_freq(c);
  const bool base_grads = backward && !lora_on_;
  std::mt19937_64 rng(dropout_seed_ * 0x9E3779B97F4A7C15ull + dropout_calls_++);
  Impl& I = *impl_;
  I.acts.resize(static_cast<size_t>(c.num_layers));

  auto lin = [&](int l, Proj p, const TensorView& w, const TensorView& b, const TensorView& dw,
                 const TensorView& db, int64_t in, int64_t out) {
    Lin L{w.f32(), b.empty() ? nullptr : b.f32(), base_grads ? mut(dw) : nullptr,
          base_grads ? mut(db) : nullptr, in, out};
    const LoraSlot s = lora_on_ ? I.lora[static_cast<size_t>(l)][static_cast<size_t>(p)] : LoraSlot{};
    if (s.a >= 0) {
      Param& A = lora_[static_cast<size_t>(s.a)];
      Param& Bm = lora_[static_cast<size_t>(s.a) + 1];
      L.r = A.value.shape()[0];
      L.A = A.v(), L.dA = A.g();
      L.B = Bm.v() + s.row0 * L.r, L.dB = Bm.g() + s.row0 * L.r;
      L.la = &I.acts[static_cast<size_t>(l)].lora[static_cast<size_t>(s.owner)];
      L.computes_ax = s.owner == static_cast<int>(p);
      L.scale = lora_cfg_.alpha / static_cast<float>(lora_cfg_.rank);
      L.dropout = backward ? lora_cfg_.dropout : 0.f;
    }
    return L;
  };
  auto lins = [&](int l) {
    const LayerWeights &w = w_.layers[static_cast<size_t>(l)], &g = g_.layers[static_cast<size_t>(l)];
    return std::array<Lin, 7>{lin(l, Proj::kQ, w.q, w.q_bias, g.q, g.q_bias, C, Q),
                              lin(l, Proj::kK, w.k, w.k_bias, g.k, g.k_bias, C, KVD),
                              lin(l, Proj::kV, w.v, w.v_bias, g.v, g.v_bias, C, KVD),
                              lin(l, Proj::kO, w.o, {}, g.o, {}, Q, C),
                              lin(l, Proj::kGate, w.gate, {}, g.gate, {}, C, F),
                              lin(l, Proj::kUp, w.up, {}, g.up, {}, C, F),
                              lin(l, Proj::kDown, w.down, {}, g.down, {}, F, C)};
  };

  // ---------------- forward ----------------
  std::vector<float> x(static_cast<size_t>(N * C)), tmp(static_cast<size_t>(N * C));
  embedding_forward(w_.embed.f32(), ids, N, C, x.data());
  for (int l = 0; l < c.num_layers; ++l) {
    const LayerWeights& w = w_.layers[static_cast<size_t>(l)];
    LayerActs& a = I.acts[static_cast<size_t>(l)];
    const auto L = lins(l);
    a.x_in = x;
    a.h1.resize(x.size()), a.rstd1.resize(static_cast<size_t>(N));
    rmsnorm_forward(x.data(), w.input_norm.f32(), eps, N, C, a.h1.data(), a.rstd1.data());
    a.q.resize(static_cast<size_t>(N * Q)), a.k.resize(static_cast<size_t>(N * KVD)), a.v.resize(a.k.size());
    if (c.qk_norm) {
      a.q_lin.resize(a.q.size()), a.k_lin.resize(a.k.size());
      a.qn_rstd.resize(static_cast<size_t>(N * H)), a.kn_rstd.resize(static_cast<size_t>(N * KV));
      lin_fwd(L[0], a.h1.data(), N, a.q_lin.data(), &rng);
      lin_fwd(L[1], a.h1.data(), N, a.k_lin.data(), &rng);
      rmsnorm_forward(a.q_lin.data(), w.q_norm.f32(), eps, N * H, D, a.q.data(), a.qn_rstd.data());
      rmsnorm_forward(a.k_lin.data(), w.k_norm.f32(), eps, N * KV, D, a.k.data(), a.kn_rstd.data());
    } else {
      lin_fwd(L[0], a.h1.data(), N, a.q.data(), &rng);
      lin_fwd(L[1], a.h1.data(), N, a.k.data(), &rng);
    }
    lin_fwd(L[2], a.h1.data(), N, a.v.data(), &rng);
    rope_rotate_half(a.q.data(), N, H, D, c.rotary_dim, pos.data(), inv_freq.data());
    rope_rotate_half(a.k.data(), N, KV, D, c.rotary_dim, pos.data(), inv_freq.data());
    a.att.resize(a.q.size()), a.lse.resize(static_cast<size_t>(B * H * T));
    attention_forward(a.q.data(), a.k.data(), a.v.data(), B, T, H, KV, D, scale, a.att.data(), a.lse.data());
    lin_fwd(L[3], a.att.data(), N, tmp.data(), &rng);
    add_into(x.data(), tmp.data(), N * C);
    a.x_mid = x;
    a.h2.resize(x.size()), a.rstd2.resize(static_cast<size_t>(N));
    rmsnorm_forward(x.data(), w.post_norm.f32(), eps, N, C, a.h2.data(), a.rstd2.data());
    a.gate.resize(static_cast<size_t>(N * F)), a.up.resize(a.gate.size()), a.act.resize(a.gate.size());
    lin_fwd(L[4], a.h2.data(), N, a.gate.data(), &rng);
    lin_fwd(L[5], a.h2.data(), N, a.up.data(), &rng);
    swiglu_forward(a.gate.data(), a.up.data(), N * F, a.act.data());
    lin_fwd(L[6], a.act.data(), N, tmp.data(), &rng);
    add_into(x.data(), tmp.data(), N * C);
  }
  I.xf = x;
  I.hf.resize(x.size()), I.rstdf.resize(static_cast<size_t>(N));
  rmsnorm_forward(x.data(), w_.final_norm.f32(), eps, N, C, I.hf.data(), I.rstdf.data());

  // Head + cross-entropy in row chunks so (N, V) logits never exist at once; dhf accumulates here.
  std::vector<float> dhf;
  if (backward) zeros(dhf, N * C);
  float* dhead = base_grads ? mut(g_.lm_head) : nullptr;
  const float row_scale = grad_scale / static_cast<float>(count);
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(N, (int64_t{64} << 20) / (V * 4)));
  std::vector<float> logits;
  double loss_sum = 0.0;
  for (int64_t r0 = 0; r0 < N; r0 += chunk) {
    const int64_t R = std::min(chunk, N - r0);
    if (std::all_of(tgt.begin() + r0, tgt.begin() + r0 + R, [](int32_t t) { return t < 0; })) continue;
    logits.resize(static_cast<size_t>(R * V));
    linear_forward(I.hf.data() + r0 * C, w_.lm_head.f32(), nullptr, R, C, V, logits.data());
    loss_sum += cross_entropy_forward_backward(logits.data(), tgt.data() + r0, R, V, row_scale);
    if (backward) linear_backward(logits.data(), I.hf.data() + r0 * C, w_.lm_head.f32(), R, C, V,
                                  dhf.data() + r0 * C, dhead, nullptr);
  }
  const double loss = loss_sum / static_cast<double>(count);
  if (!backward) return loss;

  // ---------------- backward ----------------
  std::vector<float> dx, dh, datt, dq, dk, dv, dql, dkl, dact, dg, du;
  zeros(dx, N * C);
  rmsnorm_backward(dhf.data(), I.xf.data(), w_.final_norm.f32(), I.rstdf.data(), N, C, dx.data(),
                   base_grads ? mut(g_.final_norm) : nullptr);
  for (int l = c.num_layers - 1; l >= 0; --l) {
    const LayerWeights &w = w_.layers[static_cast<size_t>(l)], &g = g_.layers[static_cast<size_t>(l)];
    LayerActs& a = I.acts[static_cast<size_t>(l)];
    const auto L = lins(l);
    // MLP: x_out = x_mid + down(silu(gate(h2)) * up(h2)), h2 = norm(x_mid); dx holds d(x_out).
    zeros(dact, N * F);
    lin_bwd(L[6], dx.data(), a.act.data(), N, dact.data());
    zeros(dg, N * F), zeros(du, N * F);
    swiglu_backward(dact.data(), a.gate.data(), a.up.data(), N * F, dg.data(), du.data());
    zeros(dh, N * C);
    lin_bwd(L[4], dg.data(), a.h2.data(), N, dh.data());
    lin_bwd(L[5], du.data(), a.h2.data(), N, dh.data());
    rmsnorm_backward(dh.data(), a.x_mid.data(), w.post_norm.f32(), a.rstd2.data(), N, C, dx.data(),
                     base_grads ? mut(g.post_norm) : nullptr);
    // Attention: x_mid = x_in + o(attn(rope(q), rope(k), v)); dx now holds d(x_mid).
    zeros(datt, N * Q);
    lin_bwd(L[3], dx.data(), a.att.data(), N, datt.data());
    zeros(dq, N * Q), zeros(dk, N * KVD), zeros(dv, N * KVD);
    attention_backward(datt.data(), a.q.data(), a.k.data(), a.v.data(), a.att.data(), a.lse.data(), B, T, H, KV, D,
                       scale, dq.data(), dk.data(), dv.data());
    rope_rotate_half_backward(dq.data(), N, H, D, c.rotary_dim, pos.data(), inv_freq.data());
    rope_rotate_half_backward(dk.data(), N, KV, D, c.rotary_dim, pos.data(), inv_freq.data());
    const float* dq_in = dq.data();
    const float* dk_in = dk.data();
    if (c.qk_norm) {
      zeros(dql, N * Q), zeros(dkl, N * KVD);
      rmsnorm_backward(dq.data(), a.q_lin.data(), w.q_norm.f32(), a.qn_rstd.data(), N * H, D, dql.data(),
                       base_grads ? mut(g.q_norm) : nullptr);
      rmsnorm_backward(dk.data(), a.k_lin.data(), w.k_norm.f32(), a.kn_rstd.data(), N * KV, D, dkl.data(),
                       base_grads ? mut(g.k_norm) : nullptr);
      dq_in = dql.data(), dk_in = dkl.data();
    }
    zeros(dh, N * C);
    lin_bwd(L[0], dq_in, a.h1.data(), N, dh.data());
    lin_bwd(L[1], dk_in, a.h1.data(), N, dh.data());
    lin_bwd(L[2], dv.data(), a.h1.data(), N, dh.data());
    rmsnorm_backward(dh.data(), a.x_in.data(), w.input_norm.f32(), a.rstd1.data(), N, C, dx.data(),
                     base_grads ? mut(g.input_norm) : nullptr);
  }
  if (base_grads) embedding_backward(dx.data(), ids, N, C, mut(g_.embed));
  return loss;
}

}  // namespace dm
