// Internal: the scale searches of ggml's K-quant reference quantizers (ggml-quants.c's make_qx_quants,
// make_q3_quants and make_qkx2_quants, in the configurations quantize_row_q*_K_ref call them with). Each
// takes a group of n values and picks a scale (and for the affine ones an offset) with integer levels L,
// reproducing ggml's float arithmetic step for step: same operand order, same comparisons, same
// round-half-to-even of nearest_int, so the levels and scales come out bit-identical.
#pragma once
#include <cstdint>
#include <cstring>

namespace dm::quant {

// ggml's nearest_int: adding 1.5 * 2^23 leaves round-to-nearest-even(v) in the low mantissa bits (valid for
// |v| <= 2^22 - 1; out of range it returns what ggml's returns, garbage included).
inline int nearest_int(float v) {
  const float shifted = v + 12582912.f;
  int32_t bits;
  std::memcpy(&bits, &shifted, 4);
  return (bits & 0x007fffff) - 0x00400000;
}

// Symmetric levels L[i] in [0, 2*nmax) (signed level + nmax) with weights x^2 (make_qx_quants, rmse_type 1,
// no importance weights): the scale -max/nmax, then 18 nudged inverse scales -(nmax + 0.1*k)/max,
// k = -9..9, each refit by weighted least squares; returns the best fit's scale (0 for an all-zero group).
float search_symmetric_scale(int n, int nmax, const float* x, int8_t* L);

// Q3_K's symmetric search (make_q3_quants with do_rmse): levels from -max/nmax, then up to 5 passes that
// move single levels whenever that improves the weighted (x^2) least-squares fit. L[i] in [0, 2*nmax).
float search_symmetric_scale_q3(int n, int nmax, const float* x, int8_t* L);

// Affine levels L[i] in [0, nmax] with x ~ scale*L - min (make_qkx2_quants): the min/max grid, then
// nstep+1 inverse scales (rmin + rdelta*k + nmax)/(max - min), each refit for scale and offset by weighted
// least squares, keeping the one with the smallest weighted error (|diff| if use_mad, else diff^2).
// Returns the scale; *neg_min gets the offset as a non-negative number (x ~ scale*L - *neg_min). Laux is n
// bytes of scratch.
struct AffineSearch {
  int nmax;
  float rmin, rdelta;
  int nstep;
  bool use_mad;
};
float search_affine_scale(int n, const AffineSearch& cfg, const float* x, const float* weights, uint8_t* L,
                          float* neg_min, uint8_t* Laux);

}  // namespace dm::quant
