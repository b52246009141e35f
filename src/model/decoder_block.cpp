// The decoder layer's sequence of operations (see decoder_block.h); each operation is the one kernel in
// kernels/ops.h, the projections and attention are the executor's.
#include "devops_model/model/decoder_block.h"

#include <algorithm>
#include <cmath>

#include "devops_model/kernels/ops.h"

namespace dm {

namespace {

void add_into(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void emit(const LayerExecutor& ex, int layer, const char* name, const float* data, int64_t rows, int64_t cols) {
  if (ex.trace) ex.trace(TraceEvent{layer, name, data, rows, cols});
}

// RoPE on q and k per run of rows; Qwen1's logn then scales q at positions past seq_length.
void apply_positions(const ModelConfig& c, const RowPositions& pos, float* q, float* k) {
  const int64_t H = c.num_heads, KV = c.num_kv_heads, D = c.head_dim, Q = c.q_dim(), KVD = c.kv_dim();
  for (const RowPositions::Run& r : pos.runs) {
    float* qs = q + r.row0 * Q;
    rope_rotate_half(qs, r.rows, H, D, c.rotary_dim, r.pos, r.inv_freq);
    rope_rotate_half(k + r.row0 * KVD, r.rows, KV, D, c.rotary_dim, r.pos, r.inv_freq);
    if (!pos.logn || !c.logn_attn) continue;
    for (int64_t t = 0; t < r.rows; ++t) {
      const int p1 = r.pos[t] + 1;
      if (p1 <= c.seq_length) continue;
      const float f =
          static_cast<float>(std::log(static_cast<double>(p1)) / std::log(static_cast<double>(c.seq_length)));
      for (int64_t i = 0; i < Q; ++i) qs[t * Q + i] *= f;
    }
  }
}

}  // namespace

void decoder_layer(const ModelConfig& c, const LayerWeights& w, int layer, int64_t R, const RowPositions& pos,
                   const LayerBuffers& b, LayerExecutor& ex) {
  const int64_t C = c.hidden_size, H = c.num_heads, KV = c.num_kv_heads, D = c.head_dim, F = c.intermediate_size,
                Q = c.q_dim(), KVD = c.kv_dim();
  const float eps = c.rms_norm_eps;
  // Attention block: x += o(attend(rope(norm_qk(q(h))), rope(norm_qk(k(h))), v(h))), h = norm(x).
  if (b.x_in) std::copy_n(b.x, R * C, b.x_in);
  rmsnorm(b.x, R, C, w.input_norm, eps, b.h1, b.rstd1);
  emit(ex, layer, "attn_norm", b.h1, R, C);
  float* q_out = c.qk_norm && b.q_lin ? b.q_lin : b.q;
  float* k_out = c.qk_norm && b.k_lin ? b.k_lin : b.k;
  static constexpr Proj kQkv[] = {Proj::kQ, Proj::kK, Proj::kV};
  float* const qkv_out[] = {q_out, k_out, b.v};
  ex.project(layer, kQkv, b.h1, R, qkv_out);
  emit(ex, layer, "q", q_out, R, Q);
  emit(ex, layer, "k", k_out, R, KVD);
  emit(ex, layer, "v", b.v, R, KVD);
  if (c.qk_norm) {
    rmsnorm(q_out, R * H, D, w.q_norm, eps, b.q, b.qn_rstd);
    rmsnorm(k_out, R * KV, D, w.k_norm, eps, b.k, b.kn_rstd);
  }
  apply_positions(c, pos, b.q, b.k);
  emit(ex, layer, "q_rope", b.q, R, Q);
  emit(ex, layer, "k_rope", b.k, R, KVD);
  ex.attend(layer, b.q, b.k, b.v, R, b.att);
  emit(ex, layer, "attn_out", b.att, R, Q);
  static constexpr Proj kO[] = {Proj::kO};
  float* const o_out[] = {b.tmp};
  ex.project(layer, kO, b.att, R, o_out);
  emit(ex, layer, "attn_proj", b.tmp, R, C);
  add_into(b.x, b.tmp, R * C);
  emit(ex, layer, "attn_residual", b.x, R, C);
  if (b.x_mid) std::copy_n(b.x, R * C, b.x_mid);
  // MLP block: x += down(silu(gate(h)) * up(h)), h = norm(x).
  rmsnorm(b.x, R, C, w.post_norm, eps, b.h2, b.rstd2);
  emit(ex, layer, "ffn_norm", b.h2, R, C);
  static constexpr Proj kGateUp[] = {Proj::kGate, Proj::kUp};
  float* const gate_up_out[] = {b.gate, b.up};
  ex.project(layer, kGateUp, b.h2, R, gate_up_out);
  emit(ex, layer, "gate", b.gate, R, F);
  emit(ex, layer, "up", b.up, R, F);
  swiglu(b.gate, b.up, R * F, b.act);
  emit(ex, layer, "ffn_act", b.act, R, F);
  static constexpr Proj kDown[] = {Proj::kDown};
  float* const down_out[] = {b.tmp};
  ex.project(layer, kDown, b.act, R, down_out);
  emit(ex, layer, "ffn_out", b.tmp, R, C);
  add_into(b.x, b.tmp, R * C);
  emit(ex, layer, "layer_out", b.x, R, C);
}

void decoder_embed(const ModelConfig& c, const ModelWeights& w, const int32_t* ids, int64_t rows, float* x,
                   LayerExecutor& ex) {
  embed_rows(w.embed, ids, rows, x);
  emit(ex, -1, "embed", x, rows, c.hidden_size);
}

void decoder_final_norm(const ModelConfig& c, const ModelWeights& w, const float* x, int64_t rows, float* out,
                        float* rstd, LayerExecutor& ex) {
  rmsnorm(x, rows, c.hidden_size, w.final_norm, c.rms_norm_eps, out, rstd);
  emit(ex, -1, "final_norm", out, rows, c.hidden_size);
}

}  // namespace dm
