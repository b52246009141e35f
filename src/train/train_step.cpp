// TrainModel::run: the decoder block (model/decoder_block.h, the same one inference runs) with training's
// executor, which keeps the activations the backward reads and adds LoRA; then the hand-written backward,
// layer by layer in reverse. Legend: B batch, T tokens, N = B*T, C hidden, H heads, KV kv heads, D head dim,
// Q = H*D, KVD = KV*D, F MLP width, V vocab, r LoRA rank.
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <span>

#include "devops_model/core/error.h"
#include "devops_model/core/threads.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/kernels/ops.h"
#include "devops_model/kernels/ops_backward.h"
#include "devops_model/model/decoder_block.h"
#include "train_impl.h"

namespace dm {

namespace {

float* mut(const TensorView& v) { return v.empty() ? nullptr : const_cast<float*>(v.f32()); }

// A linear projection with its (optional) gradient slots and LoRA adapter.
struct Lin {
  const float* w = nullptr;  // f32 weights; null for a frozen matrix of another dtype (wv)
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
  LoraActs* la = nullptr;   // the module's: dropped-out input and A·x, shared by fused projections
  bool computes_ax = true;  // false: a fused sibling already filled la in this forward
  float scale = 0.f;        // alpha / r
  float dropout = 0.f;
  TensorView wv, bv;  // the weights and bias as views (any dtype)
  GemmPrecision precision = GemmPrecision::kF32;  // of the base matmuls (--bf16); adapters stay f32
};

// y (N, out) = x W^T + b (+ scale * B A dropout(x))
void lin_fwd(const Lin& L, const float* x, int64_t N, float* y, std::mt19937_64* rng) {
  if (L.w) linear_forward(x, L.w, L.b, N, L.in, L.out, y, L.precision);
  else matmul(x, N, L.wv, L.bv, y, Activations::kF32);  // a frozen base in its own dtype: exact f32 products
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
  if (L.w) linear_backward(dy, x, L.w, N, L.in, L.out, dx, L.dw, L.db, L.precision);
  else linear_backward_input(dy, L.wv, N, dx);  // frozen: no weight or bias gradient
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

// Training's executor of the decoder block: projections with their LoRA adapters, attention over each
// whole sequence (positions 0..T-1) keeping the log-sum-exp in the layer's activations.
class TrainExecutor : public LayerExecutor {
 public:
  using MakeLin = std::function<Lin(int layer, Proj p)>;
  TrainExecutor(const ModelConfig& c, int64_t B, int64_t T, MakeLin lin, std::mt19937_64& rng)
      : c_(c), B_(B), T_(T), lin_(std::move(lin)), rng_(rng) {}
  float* lse = nullptr;  // (B, H, T) of the layer being run

  void project(int layer, std::span<const Proj> group, const float* x, int64_t rows,
               std::span<float* const> outs) override {
    for (size_t i = 0; i < group.size(); ++i) lin_fwd(lin_(layer, group[i]), x, rows, outs[i], &rng_);
  }

  void attend(int, const float* q, const float* k, const float* v, int64_t, float* out) override {
    const int64_t H = c_.num_heads, KV = c_.num_kv_heads, D = c_.head_dim, Q = c_.q_dim(), KVD = c_.kv_dim();
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    for (int64_t b = 0; b < B_; ++b)
      attention(q + b * T_ * Q, T_, H, KV, D, k + b * T_ * KVD, v + b * T_ * KVD, KVD, 0, scale, out + b * T_ * Q,
                lse + b * H * T_);
  }

 private:
  const ModelConfig& c_;
  int64_t B_, T_;
  MakeLin lin_;
  std::mt19937_64& rng_;
};

// Sizes the layer's kept activations and points the block's buffers at them.
LayerBuffers keep_buffers(const ModelConfig& c, int64_t B, int64_t T, float* x, float* tmp, LayerActs& a) {
  const size_t N = static_cast<size_t>(B * T), C = static_cast<size_t>(c.hidden_size),
               Q = static_cast<size_t>(c.q_dim()), KVD = static_cast<size_t>(c.kv_dim()),
               F = static_cast<size_t>(c.intermediate_size);
  for (auto* v : {&a.x_in, &a.h1, &a.x_mid, &a.h2}) v->resize(N * C);
  a.rstd1.resize(N), a.rstd2.resize(N);
  a.q.resize(N * Q), a.att.resize(N * Q), a.k.resize(N * KVD), a.v.resize(N * KVD);
  a.lse.resize(static_cast<size_t>(B * c.num_heads * T));
  for (auto* v : {&a.gate, &a.up, &a.act}) v->resize(N * F);
  LayerBuffers b;
  b.x = x, b.tmp = tmp, b.x_in = a.x_in.data(), b.h1 = a.h1.data(), b.rstd1 = a.rstd1.data();
  if (c.qk_norm) {
    a.q_lin.resize(N * Q), a.k_lin.resize(N * KVD);
    a.qn_rstd.resize(N * static_cast<size_t>(c.num_heads)), a.kn_rstd.resize(N * static_cast<size_t>(c.num_kv_heads));
    b.q_lin = a.q_lin.data(), b.k_lin = a.k_lin.data(), b.qn_rstd = a.qn_rstd.data(), b.kn_rstd = a.kn_rstd.data();
  }
  b.q = a.q.data(), b.k = a.k.data(), b.v = a.v.data(), b.att = a.att.data();
  b.x_mid = a.x_mid.data(), b.h2 = a.h2.data(), b.rstd2 = a.rstd2.data();
  b.gate = a.gate.data(), b.up = a.up.data(), b.act = a.act.data();
  return b;
}

// Sized to n and cleared by all threads (one thread's memset of the backward's buffers, ~30 MB a layer
// on BM_TrainStep's shape, left the other idle).
void zeros(std::vector<float>& v, int64_t n) {
  v.resize(static_cast<size_t>(n));
  clear_parallel(v.data(), n);
}

}  // namespace

double TrainModel::run(const int32_t* ids, const int32_t* labels, int64_t B, int64_t T, float grad_scale,
                       bool backward) {
  const ModelConfig& c = config_;
  const int64_t N = B * T, C = c.hidden_size, H = c.num_heads, KV = c.num_kv_heads, D = c.head_dim,
                F = c.intermediate_size, V = c.vocab_size, Q = c.q_dim(), KVD = c.kv_dim();
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
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
  const std::vector<double> inv_freq = rope_inv_freq(c.rotary_dim, c.rope_theta);  // NTK alpha 1
  const bool base_grads = backward && !lora_on_;
  const GemmPrecision precision = bf16_ ? GemmPrecision::kBF16 : GemmPrecision::kF32;
  if (base_grads && frozen_source_)
    fail(ErrorKind::kInvalidArgument, "the base is frozen in its loaded dtype (QLoRA): only LoRA adapters train on it");
  std::mt19937_64 rng(dropout_seed_ * 0x9E3779B97F4A7C15ull + dropout_calls_++);
  Impl& I = *impl_;
  I.acts.resize(static_cast<size_t>(c.num_layers));
  // Gradient checkpointing: each layer keeps only its input (and the dropout generator's state there);
  // the backward runs the layer again into one shared set of activations before differentiating it.
  const bool recompute = backward && grad_ckpt_;
  std::vector<std::mt19937_64> layer_rng;
  auto acts_of = [&](int l) -> LayerActs& { return recompute ? I.scratch : I.acts[static_cast<size_t>(l)]; };

  auto lin = [&](int l, Proj p) {
    const LayerWeights &w = w_.layers[static_cast<size_t>(l)], &g = g_.layers[static_cast<size_t>(l)];
    const TensorView &wt = w.proj(p), &bt = w.proj_bias(p);
    Lin L;
    L.w = wt.dtype == DType::kF32 ? wt.f32() : nullptr;
    L.b = bt.empty() ? nullptr : bt.f32();
    L.dw = base_grads ? mut(g.proj(p)) : nullptr;
    L.db = base_grads ? mut(g.proj_bias(p)) : nullptr;
    L.in = wt.shape[1], L.out = wt.shape[0];
    L.wv = wt, L.bv = bt;
    L.precision = precision;
    const LoraSlot s = lora_on_ ? I.lora[static_cast<size_t>(l)][static_cast<size_t>(p)] : LoraSlot{};
    if (s.a >= 0) {
      Param& A = lora_[static_cast<size_t>(s.a)];
      Param& Bm = lora_[static_cast<size_t>(s.a) + 1];
      L.r = A.value.shape()[0];
      L.A = A.v(), L.dA = A.g();
      L.B = Bm.v() + s.row0 * L.r, L.dB = Bm.g() + s.row0 * L.r;
      L.la = &acts_of(l).lora[static_cast<size_t>(s.owner)];
      L.computes_ax = s.owner == static_cast<int>(p);
      L.scale = lora_cfg_.alpha / static_cast<float>(lora_cfg_.rank);
      L.dropout = backward ? lora_cfg_.dropout : 0.f;
    }
    return L;
  };
  auto lins = [&](int l) {
    std::array<Lin, static_cast<size_t>(Proj::kCount)> out;
    for (int p = 0; p < static_cast<int>(Proj::kCount); ++p) out[static_cast<size_t>(p)] = lin(l, static_cast<Proj>(p));
    return out;
  };

  // ---------------- forward ----------------
  // Working buffers live in Impl: the next step reuses their pages instead of faulting in new ones.
  TrainScratch& sc = I.scratch_buffers;
  std::vector<float>&x = sc.x, &tmp = sc.tmp;
  x.resize(static_cast<size_t>(N * C)), tmp.resize(static_cast<size_t>(N * C));
  TrainExecutor ex(c, B, T, lin, rng);
  ex.trace = trace_;
  RowPositions positions;  // training runs without logn, at NTK alpha 1 (as the reference)
  positions.runs.push_back({0, N, pos.data(), inv_freq.data()});
  decoder_embed(c, w_, ids, N, x.data(), ex);
  for (int l = 0; l < c.num_layers; ++l) {
    if (recompute) {
      I.acts[static_cast<size_t>(l)] = LayerActs{};  // releases what a run without checkpointing kept
      I.acts[static_cast<size_t>(l)].x_in.assign(x.begin(), x.end());
      layer_rng.push_back(rng);
    }
    LayerActs& a = acts_of(l);
    const LayerBuffers buf = keep_buffers(c, B, T, x.data(), tmp.data(), a);
    ex.lse = a.lse.data();
    decoder_layer(c, w_.layers[static_cast<size_t>(l)], l, N, positions, buf, ex);
  }
  I.xf = x;
  I.hf.resize(x.size()), I.rstdf.resize(static_cast<size_t>(N));
  decoder_final_norm(c, w_, x.data(), N, I.hf.data(), I.rstdf.data(), ex);

  // Head + cross-entropy in row chunks so (N, V) logits never exist at once; dhf accumulates here.
  std::vector<float>& dhf = sc.dhf;
  if (backward) zeros(dhf, N * C);
  float* dhead = base_grads ? mut(g_.lm_head) : nullptr;
  const bool head_f32 = w_.lm_head.dtype == DType::kF32;
  // The head's products in bf16 too under --bf16, as autocast does (f32 sums and logits; the demo's loss moved
  // +0.05 % against an f32 head, and the step got 3 % faster).
  const GemmPrecision head_precision = precision;
  const float row_scale = grad_scale / static_cast<float>(count);
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(N, (int64_t{64} << 20) / (V * 4)));
  std::vector<float>& logits = sc.logits;
  double loss_sum = 0.0;
  for (int64_t r0 = 0; r0 < N; r0 += chunk) {
    const int64_t R = std::min(chunk, N - r0);
    if (std::all_of(tgt.begin() + r0, tgt.begin() + r0 + R, [](int32_t t) { return t < 0; })) continue;
    logits.resize(static_cast<size_t>(R * V));
    if (head_f32) linear_forward(I.hf.data() + r0 * C, w_.lm_head.f32(), nullptr, R, C, V, logits.data(), head_precision);
    else matmul(I.hf.data() + r0 * C, R, w_.lm_head, TensorView{}, logits.data(), Activations::kF32);
    loss_sum += cross_entropy_forward_backward(logits.data(), tgt.data() + r0, R, V, row_scale);
    if (backward && head_f32)
      linear_backward(logits.data(), I.hf.data() + r0 * C, w_.lm_head.f32(), R, C, V, dhf.data() + r0 * C, dhead,
                      nullptr, head_precision);
    else if (backward)
      linear_backward_input(logits.data(), w_.lm_head, R, dhf.data() + r0 * C);
  }
  const double loss = loss_sum / static_cast<double>(count);
  if (!backward) return loss;

  // ---------------- backward ----------------
  std::vector<float>&dx = sc.dx, &dh = sc.dh, &datt = sc.datt, &dq = sc.dq, &dk = sc.dk, &dv = sc.dv, &dql = sc.dql,
  &dkl = sc.dkl, &dact = sc.dact, &dg = sc.dg, &du = sc.du;
  zeros(dx, N * C);
  rmsnorm_backward(dhf.data(), I.xf.data(), w_.final_norm.f32(), I.rstdf.data(), N, C, dx.data(),
                   base_grads ? mut(g_.final_norm) : nullptr);
  for (int l = c.num_layers - 1; l >= 0; --l) {
    const LayerWeights &w = w_.layers[static_cast<size_t>(l)], &g = g_.layers[static_cast<size_t>(l)];
    LayerActs& a = acts_of(l);
    if (recompute) {  // the layer's forward again, from its kept input, with the same dropout masks
      std::vector<float> xr = I.acts[static_cast<size_t>(l)].x_in;
      const LayerBuffers buf = keep_buffers(c, B, T, xr.data(), tmp.data(), a);
      ex.lse = a.lse.data();
      ex.trace = nullptr;
      rng = layer_rng[static_cast<size_t>(l)];
      decoder_layer(c, w, l, N, positions, buf, ex);
    }
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
    if (on_layer_grads_) on_layer_grads_(l);
  }
  if (base_grads) embedding_backward(dx.data(), ids, N, C, mut(g_.embed));
  return loss;
}

int64_t TrainModel::kept_activation_bytes() const {
  auto bytes = [](const LayerActs& a) {
    size_t n = 0;
    for (const auto* v : {&a.x_in, &a.h1, &a.rstd1, &a.q_lin, &a.qn_rstd, &a.k_lin, &a.kn_rstd, &a.q, &a.k, &a.v,
                          &a.att, &a.lse, &a.x_mid, &a.h2, &a.rstd2, &a.gate, &a.up, &a.act})
      n += v->capacity() * sizeof(float);
    for (const LoraActs& l : a.lora) n += (l.xd.capacity() + l.ax.capacity()) * sizeof(float) + l.mask.capacity();
    return n;
  };
  size_t n = bytes(impl_->scratch);
  for (const LayerActs& a : impl_->acts) n += bytes(a);
  return static_cast<int64_t>(n);
}

}  // namespace dm
