#ifndef VORONOID_C_KERNEL_SHIMS_H
#define VORONOID_C_KERNEL_SHIMS_H

#include <stdint.h>
#if defined(__AVX__) || defined(__SSE2__)
#include <immintrin.h>
/// One row of `voronoid_screen_distances` in two steps, so a caller can narrow the window between
/// them: the expansion of `k` inner products into distances (and, into `bounded` when it is not
/// NULL, each distance's upper bound), returning the least upper bound of the nearest distance;
/// then the direct form for every center whose distance may be at most `limit`, returning how
/// many were computed.
float voronoid_screen_expand(float row_norm, const float *center_norms, const float *center_roots, long k, float gamma,
                             float *dist, float *bounded);
long voronoid_screen_exact(const float *x, const float *c, long k, long d, float row_norm, const float *center_roots,
                           float gamma, float limit, float *dist);

#endif

/// Bit `j` of the result is set where `d[j] <= limit`, for the eight floats at `d`; a NaN never
/// sets its bit.
///
/// Swift can compare eight floats in one instruction but has no way to read the comparison as
/// an integer (`movmskps`); the lane-weighted sums it offers instead compile to dozens of
/// shuffles. Inlined into the caller, this is a load, a compare and a `vmovmskps`.
static inline __attribute__((always_inline)) uint32_t voronoid_mask_at_most8(const float *d, float limit) {
#if defined(__AVX__)
    __m256 v = _mm256_loadu_ps(d);
    return (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_set1_ps(limit), _CMP_LE_OQ));
#elif defined(__SSE2__)
    __m128 l = _mm_set1_ps(limit);
    uint32_t low = (uint32_t)_mm_movemask_ps(_mm_cmple_ps(_mm_loadu_ps(d), l));
    uint32_t high = (uint32_t)_mm_movemask_ps(_mm_cmple_ps(_mm_loadu_ps(d + 4), l));
    return low | (high << 4);
#else
    uint32_t m = 0;
    for (int j = 0; j < 8; j++) m |= (uint32_t)(d[j] <= limit) << j;
    return m;
/// One row of `voronoid_screen_distances` in two steps, so a caller can narrow the window between
/// them: the expansion of `k` inner products into distances (and, into `bounded` when it is not
/// NULL, each distance's upper bound), returning the least upper bound of the nearest distance;
/// then the direct form for every center whose distance may be at most `limit`, returning how
/// many were computed.
float voronoid_screen_expand(float row_norm, const float *center_norms, const float *center_roots, long k, float gamma,
                             float *dist, float *bounded);
long voronoid_screen_exact(const float *x, const float *c, long k, long d, float row_norm, const float *center_roots,
                           float gamma, float limit, float *dist);

#endif
}

/// Which vector code the kernels below run: 1, the x86-64 baseline; 2, AVX2 + FMA. Chosen
/// once, from the processor, at the first call.
int voronoid_kernel_level(void);

/// Forces the kernels to `requested`, lowered to what the processor has (tests and benchmarks
/// compare the two); returns the level now in force.
int voronoid_set_kernel_level(int requested);

/// `out[i·k + j] = ‖x_i − c_j‖²` for `rows` rows of `x` and `k` centers, row-major, `d` wide.
void voronoid_squared_distances(const float *x, long rows, const float *c, long k, long d, float *out);

/// `delta[t] += f · (x[t] − c[t])` for `t < d`.
void voronoid_add_scaled_difference(float *delta, const float *x, const float *c, float f, long d);

/// `y[t] += a · x[t]` for `t < d`.
void voronoid_add_scaled(float *y, const float *x, float a, long d);

/// `norms[i] = ‖x_i‖²` for `rows` rows `d` wide.
void voronoid_row_norms(const float *x, long rows, long d, float *norms);

/// `out = x − mean` row by row (`rows` rows, `d` wide) and `norms[i] = ‖out_i‖²`.
void voronoid_center_rows(const float *x, long rows, long d, const float *mean, float *out, float *norms);

/// Turns inner products into squared distances that decide exactly what the direct form would.
///
/// On entry `dist[i·k + j]` holds the inner product of centered row `i` and centered center `j`
/// (from a matrix product), `row_norms` and `center_norms` their squared norms and
/// `center_roots` the centers' norms. Each distance is expanded as `‖x‖² + ‖c‖² − 2x·c`, whose
/// rounding error is at most `gamma · (‖x‖ + ‖c‖)²`; every center that may lie within `window`
/// of the row's nearest then gets its direct-form distance `Σ (x − c)²` from the original `x`
/// and `c`, and every other keeps a value certainly more than `window` beyond the nearest.
/// Returns how many direct-form distances were computed.
long voronoid_screen_distances(const float *x, const float *c, long rows, long k, long d, const float *row_norms,
                               const float *center_norms, const float *center_roots, float gamma, float window,
                               float *dist);

/// One row of `voronoid_screen_distances` in two steps, so a caller can narrow the window between
/// them: the expansion of `k` inner products into distances (and, into `bounded` when it is not
/// NULL, each distance's upper bound), returning the least upper bound of the nearest distance;
/// then the direct form for every center whose distance may be at most `limit`, returning how
/// many were computed.
float voronoid_screen_expand(float row_norm, const float *center_norms, const float *center_roots, long k, float gamma,
                             float *dist, float *bounded);
long voronoid_screen_exact(const float *x, const float *c, long k, long d, float row_norm, const float *center_roots,
                           float gamma, float limit, float *dist);

/// Whether the processor has AVX-512 BF16 (with F, BW, VL and DQ), which the three
/// `voronoid_bfloat16_*` kernels below need: call them only where this is 1.
int voronoid_bfloat16_available(void);

/// Packs centers `[lo, hi)` of `k` (`d` wide, row-major), minus `mean` unless it is NULL, for
/// `voronoid_bfloat16_products_into`, rounded to bfloat16, and (unless `norms` is NULL) the
/// squared norms of the float32 differences into `norms[lo..<hi]`. `lo` is a multiple of 16, and
/// so is `hi` unless it is `k`. `packed` holds `⌈k / 32⌉ · 32 · (d rounded up to even)` values and
/// is zero where no center was packed.
void voronoid_bfloat16_pack_centers(const float *centers, const float *mean, long lo, long hi, long k, long d,
                                    uint16_t *packed, float *norms);

/// `rows` rows of `x` (`d` wide), minus `mean` unless it is NULL, rounded to bfloat16 into `out`
/// (rows `d` rounded up to even apart, a zero past `d`), and the squared norms of the float32
/// differences into `norms`.
void voronoid_bfloat16_rows(const float *x, long rows, long d, const float *mean, uint16_t *out, float *norms);

/// `out[i·k + j]` = the inner product of bfloat16 row `i` (from `voronoid_bfloat16_rows`) and
/// packed center `j`, summed in float32.
void voronoid_bfloat16_products_into(const uint16_t *rows, long n, const uint16_t *packed, long k, long d, float *out);

/// k-means++ seeding: the potential of a trial row, `Σ min(closest[i], row[i])` over `m` rows,
/// summed in eight lanes added in a fixed order (the same result on every kernel path).
double voronoid_seeding_potential(const double *closest, const float *row, long m);

/// k-means++ seeding: `closest = min(closest, row)` over `m` rows, then the sum of each block of
/// `block` rows into `sums` (as `voronoid_seeding_potential` sums); returns the blocks' total.
double voronoid_seeding_lower(double *closest, const float *row, long m, long block, double *sums);

/// Matrix-product distances of `n` rows to `k` centers, in place: `g[i·k + j]`, which holds
/// −2·(inner product), becomes `max(0, (row_norms[i] + center_norms[j]) + g[i·k + j])`.
void voronoid_expand_rows(float *g, long n, long k, const float *row_norms, const float *center_norms);

/// `sums[t] += x[t]` for `d` floats added in doubles.
void voronoid_add_doubles(double *sums, const float *x, long d);

/// k-means++ seeding: turns the tile [a0, a0 + rows) × [b0, b0 + cols) of the Gram matrix `g`
/// (rows `ld` floats apart), whose entries above the diagonal hold −2·(inner product), into squared
/// distances `max(0, norms[a] + norms[b] + g[a][b])`, written at (a, b) and at (b, a); the
/// diagonal becomes 0.
void voronoid_gram_tile(float *g, long ld, long a0, long rows, long b0, long cols, const float *norms);

/// The projections of `k` rows of `d` floats on `m` directions of `d` doubles (`m` a multiple of
/// four), into `keys[u * stride + j]`, summed in four lanes added in a fixed order (the same
/// result on every path).
void voronoid_project_rows(const float *c, long k, long d, const double *dirs, long m, double *keys, long stride);

/// CRC-32C (Castagnoli) of `count` bytes: with SSE 4.2's instruction where the processor has it
/// and `allow_hardware` is not 0, otherwise eight 256-entry tables (the two give the same value).
uint32_t voronoid_crc32c(const void *bytes, long count, int allow_hardware);

/// Asks the kernel to back the 2 MiB-aligned part of `[p, p + bytes)` with transparent huge
/// pages (`madvise(MADV_HUGEPAGE)`, which Debian's default `madvise` mode of THP requires), so a
/// large buffer written once costs one page fault per 2 MiB instead of one per 4 KiB. Call it
/// before the buffer is first written. Does nothing below 2 MiB, off Linux, or if the kernel
/// refuses (the buffer then keeps ordinary pages).
void voronoid_advise_huge_pages(void *p, long bytes);

#endif
