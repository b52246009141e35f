// Finite-difference checks of every backward kernel and of the whole TrainModel for the Qwen1 and Qwen3
// switches (no PyTorch golden for those). Each check compares the analytic directional derivative
// <grad, u> with a central difference of a scalar loss computed in double, along random directions u.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>

#include "devops_model/core/dtype.h"
#include "devops_model/core/threads.h"
#include "devops_model/kernels/ops.h"
#include "devops_model/kernels/matmul.h"
#include "devops_model/kernels/ops_backward.h"
#include "devops_model/train/train_model.h"
#include "kernels/backward_exp_isa.h"
#include "kernels/matmul_isa.h"

namespace dm {
namespace {

std::vector<float> rnd(size_t n, std::mt19937& rng, float s = 1.f) {
  std::normal_distribution<float> d(0.f, s);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double sum_dot(const std::vector<float>& a, const std::vector<float>& r) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * r[i];
  return s;
}

// Directional derivative check of f with respect to buffer x (analytic gradient g) along 3 directions.
void fd_check(const std::string& what, std::vector<float>& x, const std::vector<float>& g,
              const std::function<double()>& f, double h = 1e-2, double tol = 2e-2, bool unit = false) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<float> u = rnd(x.size(), rng);
    if (unit) {  // unit-norm direction: a perturbation of size h however large the tensor
      const double nrm = std::sqrt(sum_dot(u, u));
      for (auto& e : u) e = float(e / nrm);
    }
    std::vector<float> x0 = x;
    for (size_t i = 0; i < x.size(); ++i) x[i] = x0[i] + float(h) * u[i];
    const double fp = f();
    for (size_t i = 0; i < x.size(); ++i) x[i] = x0[i] - float(h) * u[i];
    const double fm = f();
    x = x0;
    const double fd = (fp - fm) / (2 * h), an = sum_dot(g, u);
    EXPECT_NEAR(an, fd, tol * std::max(unit ? 0.05 : 1.0, std::fabs(fd))) << what << " trial " << trial;
  }
}

TEST(GradCheck, Linear) {
  std::mt19937 rng(1);
  const int64_t N = 5, K = 37, M = 33;  // odd sizes hit the GEMM edge tiles
  auto x = rnd(N * K, rng), w = rnd(M * K, rng, 0.3f), b = rnd(M, rng), r = rnd(N * M, rng);
  std::vector<float> y(N * M), dx(N * K, 0.f), dw(M * K, 0.f), db(M, 0.f);
  linear_backward(r.data(), x.data(), w.data(), N, K, M, dx.data(), dw.data(), db.data());
  auto f = [&] {
    linear_forward(x.data(), w.data(), b.data(), N, K, M, y.data());
    return sum_dot(y, r);
  };
  fd_check("dx", x, dx, f);
  fd_check("dw", w, dw, f);
  fd_check("db", b, db, f);
}

// Every ISA's build of the training GEMM, 1 and 2 threads: bit-identical (each element is the same chain
// of fused multiply-adds in the same order) and equal to naive loops in double. A given as rows, and as
// columns (dW += dy^T x: the packed path, over several packed row blocks and an edge tile): both layouts
// give the same bits too.
TEST(GradCheck, GemmMatchesNaiveLoopsForAnyIsaAndThreadCount) {
  std::mt19937 rng(2);
  for (const int64_t M : {13, 270}) {
    const int64_t N = 70, P = 300;
    auto a = rnd(M * P, rng), b = rnd(P * N, rng);
    std::vector<float> at(a.size());  // A(m, p) at at[p * M + m]
    for (int64_t m = 0; m < M; ++m)
      for (int64_t p = 0; p < P; ++p) at[p * M + m] = a[m * P + p];
    const Isa saved = active_isa();
    std::vector<float> ref;
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (static_cast<int>(isa) > static_cast<int>(best_isa())) continue;
      set_active_isa(isa);
      for (const bool columns : {false, true}) {
        const float* ap = columns ? at.data() : a.data();
        const int64_t ms = columns ? 1 : P, ps = columns ? M : 1;
        std::vector<float> c1(M * N, 0.f), c2(M * N, 0.f);
        set_num_threads(1);
        gemm_acc(ap, ms, ps, b.data(), N, c1.data(), N, M, N, P);
        set_num_threads(2);
        gemm_acc(ap, ms, ps, b.data(), N, c2.data(), N, M, N, P);
        set_num_threads(0);
        const std::string what = std::string(isa_name(isa)) + (columns ? " columns" : " rows") + " M=" + std::to_string(M);
        EXPECT_EQ(c1, c2) << what;  // fixed reduction order: bit-identical across thread counts
        if (ref.empty()) ref = c1;
        EXPECT_EQ(c1, ref) << what << " differs from scalar rows";
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            double s = 0;
            for (int64_t p = 0; p < P; ++p) s += double(a[m * P + p]) * b[p * N + n];
            EXPECT_NEAR(c1[m * N + n], s, 1e-3) << what;
          }
      }
    }
    set_active_isa(saved);
  }
}

// SwiGLU backward: the AVX-512 loop (polynomial exp) against the std::exp twin, accumulating into given
// values, over gates from -100 to 100 (exp's clamped ends included) and a masked tail.
TEST(GradCheck, SwigluBackwardSimdMatchesTwin) {
  if (best_isa() < Isa::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU: only the scalar twin runs";
  std::mt19937 rng(5);
  const int64_t n = 1000 + 7;
  auto dout = rnd(n, rng), up = rnd(n, rng), g = rnd(n, rng, 8.f), dg0 = rnd(n, rng), du0 = rnd(n, rng);
  for (float x : {-100.f, -88.f, -30.f, 0.f, 30.f, 88.f, 100.f}) g.push_back(x), dout.push_back(0.5f), up.push_back(2.f);
  const int64_t m = static_cast<int64_t>(g.size());
  dg0.resize(m, 0.25f), du0.resize(m, -0.25f);
  std::vector<float> dg1 = dg0, du1 = du0, dg2 = dg0, du2 = du0;
  kernels::swiglu_backward_scalar(dout.data(), g.data(), up.data(), m, dg1.data(), du1.data());
  kernels::swiglu_backward_avx512(dout.data(), g.data(), up.data(), m, dg2.data(), du2.data());
  for (int64_t i = 0; i < m; ++i) {
    EXPECT_NEAR(dg2[i], dg1[i], 1e-6f * (std::abs(dg1[i]) + 1.f)) << i << " gate " << g[i];
    EXPECT_NEAR(du2[i], du1[i], 1e-6f * (std::abs(du1[i]) + 1.f)) << i << " gate " << g[i];
  }
}

// Attention backward's softmax-gradient row: the AVX-512 loop against the std::exp twin, causal cut inside
// a vector and a masked tail; probabilities from e^-80 to 1.
TEST(GradCheck, SoftmaxGradRowSimdMatchesTwin) {
  if (best_isa() < Isa::kAvx512) GTEST_SKIP() << "no AVX-512 on this CPU: only the scalar twin runs";
  std::mt19937 rng(6);
  const int64_t n = 45;
  for (const int64_t last : {0, 20, 44}) {
    auto s1 = rnd(n, rng, 10.f), dp1 = rnd(n, rng);
    s1[3] = -80.f;
    std::vector<float> s2 = s1, dp2 = dp1;
    kernels::softmax_grad_row_scalar(s1.data(), dp1.data(), n, last, 0.5f, 1.5f, 0.25f);
    kernels::softmax_grad_row_avx512(s2.data(), dp2.data(), n, last, 0.5f, 1.5f, 0.25f);
    for (int64_t j = 0; j < n; ++j) {
      EXPECT_NEAR(s2[j], s1[j], 1e-6f * std::abs(s1[j]) + 1e-37f) << "last " << last << " key " << j;
      EXPECT_NEAR(dp2[j], dp1[j], 1e-6f * std::abs(dp1[j]) + 1e-37f) << "last " << last << " key " << j;
      if (j > last) {
        EXPECT_EQ(s2[j], 0.f);
      }
    }
  }
}

// The transpose linear_forward packs W with: AVX2 8 x 8 register blocks and the element-by-element twin
// both give exactly src^T, edge blocks and sizes past one 32 x 32 tile included.
TEST(GradCheck, TransposeIsExactForAnyIsa) {
  std::mt19937 rng(4);
  const int64_t R = 75, C = 45;
  auto src = rnd(R * C, rng);
  const Isa saved = active_isa();
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(best_isa())) continue;
    set_active_isa(isa);
    std::vector<float> dst(src.size(), -1.f);
    transpose(src.data(), R, C, dst.data());
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < C; ++c) ASSERT_EQ(dst[c * R + r], src[r * C + c]) << isa_name(isa) << " " << r << "," << c;
  }
  set_active_isa(saved);
}

// bf16 GEMM: both the vdpbf16ps kernel (AVX512-BF16 CPUs) and its twin equal the sum of the bf16-rounded
// products (in double) up to f32 summation; edge rows and columns, an odd depth, a transposed A, C
// accumulated into; bit-identical for 1 and 2 threads, and with B read from its transpose.
TEST(GradCheck, GemmBf16SumsTheRoundedProducts) {
  std::mt19937 rng(3);
  const int64_t M = 13, N = 70, P = 301;
  auto a = rnd(M * P, rng), b = rnd(P * N, rng), c0 = rnd(M * N, rng);
  auto round_bf16 = [](float x) { return bf16_to_f32(f32_to_bf16(x)); };  // torch's rounding (DType tests)
  for (const bool transposed : {false, true}) {
    // A(m, p) = a[m * P + p], or from the transposed layout at[p * M + m].
    std::vector<float> at(a.size());
    for (int64_t m = 0; m < M; ++m)
      for (int64_t p = 0; p < P; ++p) at[p * M + m] = a[m * P + p];
    const float* ap = transposed ? at.data() : a.data();
    const int64_t ms = transposed ? 1 : P, ps = transposed ? M : 1;
    std::vector<float> k1 = c0, k2 = c0, twin = c0;
    set_num_threads(1);
    gemm_acc_bf16(ap, ms, ps, b.data(), N, k1.data(), N, M, N, P);
    set_num_threads(2);
    gemm_acc_bf16(ap, ms, ps, b.data(), N, k2.data(), N, M, N, P);
    gemm_acc_bf16_twin(ap, ms, ps, b.data(), N, twin.data(), N, M, N, P);
    set_num_threads(0);
    EXPECT_EQ(k1, k2);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = c0[m * N + n], mag = std::abs(c0[m * N + n]);
        for (int64_t p = 0; p < P; ++p) {
          const double prod = double(round_bf16(a[m * P + p])) * round_bf16(b[p * N + n]);
          s += prod, mag += std::abs(prod);
        }
        EXPECT_NEAR(k1[m * N + n], s, 2e-6 * mag) << m << "," << n << (transposed ? " transposed" : "");
        EXPECT_NEAR(twin[m * N + n], s, 2e-6 * mag) << m << "," << n << (transposed ? " transposed" : "");
      }
    // B given as its transpose W (N, P) (a linear layer's forward packs from W itself): the same bits.
    if (gemm_bf16_native() && !transposed) {
      std::vector<float> w(b.size()), kt = c0;
      for (int64_t p = 0; p < P; ++p)
        for (int64_t n = 0; n < N; ++n) w[n * P + p] = b[p * N + n];
      set_num_threads(2);
      gemm_acc_bf16_bt(a.data(), P, w.data(), P, kt.data(), N, M, N, P);
      set_num_threads(0);
      EXPECT_EQ(kt, k1);
    }
  }
}

TEST(GradCheck, RmsNorm) {
  std::mt19937 rng(3);
  const int64_t N = 4, C = 24;
  auto x = rnd(N * C, rng), w = rnd(C, rng), r = rnd(N * C, rng);
  std::vector<float> y(N * C), rs(N), dx(N * C, 0.f), dw(C, 0.f);
  const TensorView wv{DType::kF32, {C}, w.data()};
  rmsnorm(x.data(), N, C, wv, 1e-6f, y.data(), rs.data());
  rmsnorm_backward(r.data(), x.data(), w.data(), rs.data(), N, C, dx.data(), dw.data());
  auto f = [&] {
    rmsnorm(x.data(), N, C, wv, 1e-6f, y.data(), rs.data());
    return sum_dot(y, r);
  };
  fd_check("dx", x, dx, f, 1e-3);
  fd_check("dw", w, dw, f, 1e-3);
}

TEST(GradCheck, SwiGlu) {
  std::mt19937 rng(4);
  const int64_t n = 50;
  auto g = rnd(n, rng), u = rnd(n, rng), r = rnd(n, rng);
  std::vector<float> y(n), dg(n, 0.f), du(n, 0.f);
  swiglu_backward(r.data(), g.data(), u.data(), n, dg.data(), du.data());
  auto f = [&] {
    swiglu(g.data(), u.data(), n, y.data());
    return sum_dot(y, r);
  };
  fd_check("dgate", g, dg, f, 1e-3);
  fd_check("dup", u, du, f, 1e-3);
}

TEST(GradCheck, RopeRotateHalfPartialRotaryDim) {
  std::mt19937 rng(5);
  const int64_t N = 6, Hh = 2, D = 8, rot = 6;  // Qwen1-style rotary_dim < head_dim
  std::vector<int32_t> pos = {0, 1, 2, 3, 7, 11};
  std::vector<double> inv = {1.0, 0.1, 0.01};
  auto x = rnd(N * Hh * D, rng), r = rnd(N * Hh * D, rng);
  std::vector<float> dx = r;
  rope_rotate_half_backward(dx.data(), N, Hh, D, rot, pos.data(), inv.data());
  auto f = [&] {
    std::vector<float> y = x;
    rope_rotate_half(y.data(), N, Hh, D, rot, pos.data(), inv.data());
    return sum_dot(y, r);
  };
  fd_check("dx", x, dx, f, 1e-2, 1e-3);
}

TEST(GradCheck, CausalGqaAttention) {
  std::mt19937 rng(6);
  const int64_t B = 2, T = 5, H = 4, KV = 2, D = 8;
  const float scale = 1.f / std::sqrt(float(D));
  auto q = rnd(B * T * H * D, rng), k = rnd(B * T * KV * D, rng), v = rnd(B * T * KV * D, rng);
  auto r = rnd(B * T * H * D, rng);
  std::vector<float> out(q.size()), lse(B * H * T), dq(q.size(), 0.f), dk(k.size(), 0.f), dv(v.size(), 0.f);
  // The one attention kernel, per sequence (as training's executor runs it); lse (B, H, T).
  auto forward = [&] {
    for (int64_t b = 0; b < B; ++b)
      attention(q.data() + b * T * H * D, T, H, KV, D, k.data() + b * T * KV * D, v.data() + b * T * KV * D, KV * D, 0,
                scale, out.data() + b * T * H * D, lse.data() + b * H * T);
  };
  forward();
  attention_backward(r.data(), q.data(), k.data(), v.data(), out.data(), lse.data(), B, T, H, KV, D, scale, dq.data(),
                     dk.data(), dv.data());
  auto f = [&] {
    forward();
    return sum_dot(out, r);
  };
  fd_check("dq", q, dq, f, 1e-3);
  fd_check("dk", k, dk, f, 1e-3);
  fd_check("dv", v, dv, f, 1e-3);
}

// The blocked GEMM backward against its element-by-element twin: several query blocks (T > 64, a partial
// last one), grouped heads, a head dim that is not a multiple of the SIMD width, on every ISA the CPU has.
TEST(GradCheck, AttentionBackwardMatchesItsReferenceTwin) {
  std::mt19937 rng(16);
  const int64_t B = 2, T = 150, H = 6, KV = 2, D = 20;
  const float scale = 1.f / std::sqrt(float(D));
  auto q = rnd(B * T * H * D, rng), k = rnd(B * T * KV * D, rng), v = rnd(B * T * KV * D, rng);
  auto r = rnd(B * T * H * D, rng);
  std::vector<float> out(q.size()), lse(B * H * T);
  for (int64_t b = 0; b < B; ++b)
    attention(q.data() + b * T * H * D, T, H, KV, D, k.data() + b * T * KV * D, v.data() + b * T * KV * D, KV * D, 0,
              scale, out.data() + b * T * H * D, lse.data() + b * H * T);
  std::vector<float> dq0(q.size(), 0.1f), dk0(k.size(), 0.1f), dv0(v.size(), 0.1f);  // accumulates (+=)
  auto dq1 = dq0, dk1 = dk0, dv1 = dv0;
  attention_backward_reference(r.data(), q.data(), k.data(), v.data(), out.data(), lse.data(), B, T, H, KV, D, scale,
                               dq0.data(), dk0.data(), dv0.data());
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (isa > best_isa()) continue;
    SCOPED_TRACE(isa_name(isa));
    set_active_isa(isa);
    auto dq = dq1, dk = dk1, dv = dv1;
    attention_backward(r.data(), q.data(), k.data(), v.data(), out.data(), lse.data(), B, T, H, KV, D, scale,
                       dq.data(), dk.data(), dv.data());
    for (auto [got, want] : {std::pair{&dq, &dq0}, std::pair{&dk, &dk0}, std::pair{&dv, &dv0}})
      for (size_t i = 0; i < want->size(); ++i) ASSERT_NEAR((*got)[i], (*want)[i], 2e-5f) << i;
  }
  set_active_isa(best_isa());
}

TEST(GradCheck, CrossEntropyAndEmbedding) {
  std::mt19937 rng(8);
  const int64_t N = 4, V = 11, C = 3;
  auto x = rnd(N * V, rng);
  std::vector<int32_t> tgt = {3, -100, 0, 10};
  std::vector<float> g = x;
  const double loss = cross_entropy_forward_backward(g.data(), tgt.data(), N, V, 1.f);
  auto f = [&] {
    std::vector<float> y = x;
    return cross_entropy_forward_backward(y.data(), tgt.data(), N, V, 1.f);
  };
  EXPECT_GT(loss, 0);
  fd_check("dlogits", x, g, f, 1e-3);
  for (int64_t i = 0; i < V; ++i) EXPECT_EQ(g[1 * V + i], 0.f);  // ignored row
  // Embedding: repeated ids sum.
  std::vector<int32_t> ids = {2, 0, 2};
  std::vector<float> dout = {1, 2, 3, 4, 5, 6, 7, 8, 9}, dt(3 * C, 0.f);
  embedding_backward(dout.data(), ids.data(), 3, C, dt.data());
  EXPECT_EQ(dt[2 * C + 0], 8.f);
  EXPECT_EQ(dt[0 * C + 2], 6.f);
}

// Whole-model directional checks on random small configs with each family's switches.
ModelConfig small_config(bool qwen3) {
  ModelConfig c;
  c.architecture = qwen3 ? "Qwen3ForCausalLM" : "QWenLMHeadModel";
  c.hidden_size = 16, c.num_layers = 2, c.num_heads = 2, c.vocab_size = 19;
  c.num_kv_heads = qwen3 ? 1 : 2;         // Qwen3: GQA; Qwen1: MHA
  c.head_dim = qwen3 ? 12 : 8;            // Qwen3: head_dim != hidden / heads
  c.rotary_dim = qwen3 ? c.head_dim : 4;  // Qwen1: rotary_pct < 1 allowed
  c.intermediate_size = 20, c.max_position_embeddings = 64, c.rope_theta = 10000;
  c.qkv_bias = !qwen3, c.qk_norm = qwen3, c.tie_embeddings = false;
  c.logn_attn = !qwen3, c.dynamic_ntk = !qwen3, c.seq_length = 4;  // inference-only switches: ignored
  return c;
}

void model_fd(bool qwen3, bool lora) {
  const ModelConfig c = small_config(qwen3);
  std::mt19937 rng(qwen3 ? 11 : 12);
  std::vector<Tensor> store;
  ModelWeights w;
  w.layers.resize(size_t(c.num_layers));
  const int64_t C = c.hidden_size, Q = c.q_dim(), KVD = c.kv_dim(), F = c.intermediate_size, D = c.head_dim;
  auto mk = [&](Shape s, float sd, float mean = 0.f) {
    Tensor t = Tensor::zeros_f32(s);
    auto v = rnd(size_t(t.numel()), rng, sd);
    for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = v[size_t(i)] + mean;
    store.push_back(t);
    return t.view();
  };
  w.embed = mk({c.vocab_size, C}, 0.5f);
  for (auto& l : w.layers) {
    l.input_norm = mk({C}, 0.1f, 1.f), l.post_norm = mk({C}, 0.1f, 1.f);
    l.q = mk({Q, C}, 0.3f), l.k = mk({KVD, C}, 0.3f), l.v = mk({KVD, C}, 0.3f), l.o = mk({C, Q}, 0.3f);
    if (c.qkv_bias) l.q_bias = mk({Q}, 0.1f), l.k_bias = mk({KVD}, 0.1f), l.v_bias = mk({KVD}, 0.1f);
    if (c.qk_norm) l.q_norm = mk({D}, 0.1f, 1.f), l.k_norm = mk({D}, 0.1f, 1.f);
    l.gate = mk({F, C}, 0.3f), l.up = mk({F, C}, 0.3f), l.down = mk({C, F}, 0.3f);
  }
  w.final_norm = mk({C}, 0.1f, 1.f);
  w.lm_head = mk({c.vocab_size, C}, 0.3f);
  TrainModel tm(c, w);
  if (lora) {
    tm.enable_lora(LoraConfig{2, 4.f, 0.f, {"all"}, {}}, 3);
    for (Param& p : tm.lora_params())  // non-zero B so A gets a gradient
      for (int64_t i = 0; i < p.numel(); ++i) p.v()[i] += 0.2f * std::sin(float(i + 1));
  }
  const int64_t B = 2, T = 7;  // T > seq_length: logn/NTK would kick in at inference
  std::vector<int32_t> ids(B * T), labels(B * T);
  for (int64_t i = 0; i < B * T; ++i) ids[size_t(i)] = int32_t((i * 7 + 3) % c.vocab_size);
  for (int64_t i = 0; i < B * T; ++i) labels[size_t(i)] = i % 5 == 0 ? -100 : ids[size_t((i + 2) % (B * T))];
  tm.zero_grad();
  tm.forward_backward(ids.data(), labels.data(), B, T);
  for (Param* p : tm.trainable()) {
    std::vector<float> x(p->v(), p->v() + p->numel()), g(p->g(), p->g() + p->numel());
    auto f = [&] {
      std::copy(x.begin(), x.end(), p->v());
      return tm.loss_only(ids.data(), labels.data(), B, T);
    };
    fd_check(p->name, x, g, f, 1e-2, 2e-2, /*unit=*/true);
    std::copy(x.begin(), x.end(), p->v());
  }
}

TEST(GradCheck, WholeModelQwen3Switches) { model_fd(true, false); }
TEST(GradCheck, WholeModelQwen1Shape) { model_fd(false, false); }
TEST(GradCheck, WholeModelLoraAllTargets) { model_fd(true, true); }
TEST(GradCheck, WholeModelLoraQwen1FusedCAttn) { model_fd(false, true); }  // q/k/v share one A

}  // namespace
}  // namespace dm
