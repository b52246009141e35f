// The K-quant scale searches (see quant_search.h). The float expressions are written in exactly the
// order ggml evaluates them ((w*x)*l, not w*(x*l); int levels converted to float at the same point), and
// dm_core is compiled with -ffp-contract=off, so every sum and comparison rounds as ggml's does.
#include "core/quant_search.h"

#include <algorithm>
#include <cmath>

namespace dm::quant {

namespace {
constexpr float kGroupMaxEps = 1e-15f;  // below this max |x| a group is all zero

// The value of largest magnitude with its sign (the first one on ties); *amax gets its magnitude.
float signed_absmax(int n, const float* x, float* amax) {
  float max = 0.f;
  *amax = 0.f;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > *amax) {
      *amax = ax;
      max = x[i];
    }
  }
  return max;
}

// Signed level of x at inverse scale iscale, in [-nmax, nmax - 1].
int symmetric_level(float iscale, float x, int nmax) {
  return std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x)));
}

// Weighted least-squares terms of x ~ scale * l with weight x^2: sum w*x*l and sum w*l*l.
struct SymmetricFit {
  float sumlx = 0.f, suml2 = 0.f;
  void add(float x, int l) {
    const float w = x * x;
    const float fl = static_cast<float>(l);
    sumlx += w * x * fl;
    suml2 += w * fl * fl;
  }
};

SymmetricFit fit_symmetric(int n, int nmax, const float* x, float iscale) {
  SymmetricFit f;
  for (int i = 0; i < n; ++i) f.add(x[i], symmetric_level(iscale, x[i], nmax));
  return f;
}

void store_symmetric_levels(int n, int nmax, const float* x, float iscale, int8_t* L) {
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + symmetric_level(iscale, x[i], nmax));
}
}  // namespace

float search_symmetric_scale(int n, int nmax, const float* x, int8_t* L) {
  float amax;
  const float max = signed_absmax(n, x, &amax);
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.f;
  }
  const float fmax = static_cast<float>(nmax);
  float iscale = static_cast<float>(-nmax) / max;
  store_symmetric_levels(n, nmax, x, iscale, L);
  SymmetricFit fit = fit_symmetric(n, nmax, x, iscale);
  float scale = fit.suml2 != 0.f ? fit.sumlx / fit.suml2 : 0.f;
  float best = scale * fit.sumlx;  // the fit's explained energy: larger is better
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    iscale = -(fmax + 0.1f * static_cast<float>(k)) / max;
    const SymmetricFit f = fit_symmetric(n, nmax, x, iscale);
    if (f.suml2 > 0 && f.sumlx * f.sumlx > best * f.suml2) {
      store_symmetric_levels(n, nmax, x, iscale, L);
      scale = f.sumlx / f.suml2;
      best = scale * f.sumlx;
    }
  }
  return scale;
}

namespace {
// One coordinate-descent pass of the Q3_K search: each level in turn is re-chosen as the best for the
// scale fitted to all the others, and kept when the whole fit's sumlx^2/suml2 grows. Returns the moves.
int refine_levels_once(int n, int nmax, const float* x, int8_t* L, SymmetricFit* fit) {
  int changed = 0;
  for (int i = 0; i < n; ++i) {
    const float w = x[i] * x[i];
    const float li = static_cast<float>(L[i]);
    float slx = fit->sumlx - w * x[i] * li;
    if (!(slx > 0)) continue;
    float sl2 = fit->suml2 - w * li * li;
    const int new_l = std::max(-nmax, std::min(nmax - 1, nearest_int(x[i] * sl2 / slx)));
    if (new_l == L[i]) continue;
    const float fl = static_cast<float>(new_l);
    slx += w * x[i] * fl;
    sl2 += w * fl * fl;
    if (sl2 > 0 && slx * slx * fit->suml2 > fit->sumlx * fit->sumlx * sl2) {
      L[i] = static_cast<int8_t>(new_l);
      fit->sumlx = slx;
      fit->suml2 = sl2;
      ++changed;
    }
  }
  return changed;
}
}  // namespace

float search_symmetric_scale_q3(int n, int nmax, const float* x, int8_t* L) {
  float amax;
  const float max = signed_absmax(n, x, &amax);
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.f;
  }
  const float iscale = static_cast<float>(-nmax) / max;
  SymmetricFit fit;
  for (int i = 0; i < n; ++i) {  // signed levels while refining, offset by nmax at the end
    const int l = symmetric_level(iscale, x[i], nmax);
    L[i] = static_cast<int8_t>(l);
    fit.add(x[i], l);
  }
  for (int pass = 0; pass < 5; ++pass)
    if (refine_levels_once(n, nmax, x, L, &fit) == 0) break;
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return fit.suml2 > 0.f ? fit.sumlx / fit.suml2 : 0.f;
}

namespace {
int affine_level(float iscale, float x, float mn, int nmax) {
  return std::max(0, std::min(nmax, nearest_int(iscale * (x - mn))));
}

// Weighted error of x ~ scale*L + mn (mn <= 0 here is the negated offset).
float affine_error(int n, const float* x, const float* w, const uint8_t* L, float scale, float mn, bool use_mad) {
  float err = 0.f;
  for (int i = 0; i < n; ++i) {
    float diff = scale * static_cast<float>(L[i]) + mn - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    err += w[i] * diff;
  }
  return err;
}

// Weighted least-squares fit of x ~ scale*l + mn for fixed levels l, mn clamped to <= 0. False when the
// levels are degenerate (determinant <= 0).
bool fit_affine(int n, const float* x, const float* w, const uint8_t* l, float sum_w, float sum_x, float* scale,
                float* mn) {
  float sum_l = 0.f, sum_l2 = 0.f, sum_xl = 0.f;
  for (int i = 0; i < n; ++i) {
    const float fl = static_cast<float>(l[i]);
    sum_l += w[i] * fl;
    sum_l2 += w[i] * fl * fl;
    sum_xl += w[i] * fl * x[i];
  }
  const float det = sum_w * sum_l2 - sum_l * sum_l;
  if (!(det > 0)) return false;
  *scale = (sum_w * sum_xl - sum_x * sum_l) / det;
  *mn = (sum_l2 * sum_x - sum_l * sum_xl) / det;
  if (*mn > 0) {
    *mn = 0;
    *scale = sum_xl / sum_l2;
  }
  return true;
}
}  // namespace

float search_affine_scale(int n, const AffineSearch& cfg, const float* x, const float* weights, uint8_t* L,
                          float* neg_min, uint8_t* Laux) {
  float mn = x[0], mx = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    mn = std::min(mn, x[i]);
    mx = std::max(mx, x[i]);
    sum_w += weights[i];
    sum_x += weights[i] * x[i];
  }
  if (mn > 0) mn = 0;
  if (mx == mn) {
    std::fill(L, L + n, uint8_t{0});
    *neg_min = -mn;
    return 0.f;
  }
  float iscale = static_cast<float>(cfg.nmax) / (mx - mn);
  float scale = 1.f / iscale;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(affine_level(iscale, x[i], mn, cfg.nmax));
  float best_error = affine_error(n, x, weights, L, scale, mn, cfg.use_mad);
  for (int k = 0; k <= cfg.nstep; ++k) {
    iscale = (cfg.rmin + cfg.rdelta * static_cast<float>(k) + static_cast<float>(cfg.nmax)) / (mx - mn);
    for (int i = 0; i < n; ++i) Laux[i] = static_cast<uint8_t>(affine_level(iscale, x[i], mn, cfg.nmax));
    float this_scale, this_min;
    if (!fit_affine(n, x, weights, Laux, sum_w, sum_x, &this_scale, &this_min)) continue;
    const float err = affine_error(n, x, weights, Laux, this_scale, this_min, cfg.use_mad);
    if (err < best_error) {
      std::copy(Laux, Laux + n, L);
      best_error = err;
      scale = this_scale;
      mn = this_min;
    }
  }
  *neg_min = -mn;
  return scale;
}

}  // namespace dm::quant
