// The core's hottest loops in C, compiled twice: for the x86-64 baseline and, through a
// function target attribute, for AVX2 + FMA (x86-64-v3). The processor is asked once which to
// run, so one portable build runs everywhere and still uses AVX2 where it exists: no
// build flag, so the Clustering library stays usable as a versioned package dependency.
#include "CKernelShims.h"

// Reassociation lets the compiler split each sum into vector lanes, as Swift's
// Relaxed.multiplyAdd did; contraction fuses the multiply-adds where FMA exists.
#define VORONOID_FAST_FP _Pragma("clang fp reassociate(on)") _Pragma("clang fp contract(fast)")

static inline __attribute__((always_inline)) void distances_body(
    const float *x, long rows, const float *c, long k, long d, float *out) {
    VORONOID_FAST_FP
    for (long i = 0; i < rows; i++) {
        const float *xi = x + i * d;
        float *oi = out + i * k;
        long j = 0;
        // Four centers per pass: each loaded coordinate of x is used four times.
        for (; j + 4 <= k; j += 4) {
            const float *c0 = c + j * d, *c1 = c0 + d, *c2 = c1 + d, *c3 = c2 + d;
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (long t = 0; t < d; t++) {
                float v = xi[t];
                float e0 = v - c0[t], e1 = v - c1[t], e2 = v - c2[t], e3 = v - c3[t];
                a0 += e0 * e0;
                a1 += e1 * e1;
                a2 += e2 * e2;
                a3 += e3 * e3;
            }
            oi[j] = a0;
            oi[j + 1] = a1;
            oi[j + 2] = a2;
            oi[j + 3] = a3;
        }
        for (; j < k; j++) {
            const float *cj = c + j * d;
            float a = 0;
            for (long t = 0; t < d; t++) {
                float e = xi[t] - cj[t];
                a += e * e;
            }
            oi[j] = a;
        }
    }
}

static inline __attribute__((always_inline)) void axpy_difference_body(
    float *delta, const float *x, const float *c, float f, long d) {
    VORONOID_FAST_FP
    for (long t = 0; t < d; t++) delta[t] += f * (x[t] - c[t]);
}

static inline __attribute__((always_inline)) void axpy_body(float *y, const float *x, float a, long d) {
    VORONOID_FAST_FP
    for (long t = 0; t < d; t++) y[t] += a * x[t];
}

static inline __attribute__((always_inline)) void center_rows_body(
    const float *x, long rows, long d, const float *mean, float *out, float *norms) {
    VORONOID_FAST_FP
    for (long i = 0; i < rows; i++) {
        const float *xi = x + i * d;
        float *oi = out + i * d;
        float n = 0;
        for (long t = 0; t < d; t++) {
            float v = xi[t] - mean[t];
            oi[t] = v;
            n += v * v;
        }
        norms[i] = n;
    }
}

static inline __attribute__((always_inline)) void row_norms_body(const float *x, long rows, long d, float *norms) {
    VORONOID_FAST_FP
    for (long i = 0; i < rows; i++) {
        const float *xi = x + i * d;
        float n = 0;
        for (long t = 0; t < d; t++) n += xi[t] * xi[t];
        norms[i] = n;
    }
}

static inline __attribute__((always_inline)) float direct_body(const float *a, const float *b, long d) {
    VORONOID_FAST_FP
    float s = 0;
    for (long t = 0; t < d; t++) {
        float e = a[t] - b[t];
        s += e * e;
    }
    return s;
}

// One row of the screen: inner products into expanded distances, and the least upper bound of
// the row's nearest distance. With `bounded`, each distance's upper bound (expansion + error).
static inline __attribute__((always_inline)) float expand_body(
    float nx, const float *center_norms, const float *center_roots, long k, float gamma, float *di, float *bounded) {
    const float sx = __builtin_sqrtf(nx);
    // Sixteen running minima, one per lane: a single one is a chain the compiler may not reorder
    // under strict floating point, which kept this loop scalar (an eighth of the update's time at
    // d 384, k 256). The minimum of the same values is the same in any order, so every output
    // is bit for bit what one running minimum gives.
    float lanes[16];
    for (int l = 0; l < 16; l++) lanes[l] = __builtin_inff();
    long j = 0;
    for (; j + 16 <= k; j += 16) {
        for (int l = 0; l < 16; l++) {
            float r = sx + center_roots[j + l];
            float e = gamma * r * r;
            float approx = nx + center_norms[j + l] - 2 * di[j + l];
            di[j + l] = approx;
            float high = approx + e;
            if (bounded) bounded[j + l] = high;
            lanes[l] = high < lanes[l] ? high : lanes[l];
        }
    }
    float upper = __builtin_inff();
    for (int l = 0; l < 16; l++) upper = lanes[l] < upper ? lanes[l] : upper;
    for (; j < k; j++) {
        float r = sx + center_roots[j];
        float e = gamma * r * r;
        float approx = nx + center_norms[j] - 2 * di[j];
        di[j] = approx;
        float high = approx + e;
        if (bounded) bounded[j] = high;
        upper = high < upper ? high : upper;
    }
    return upper;
}

// The direct form for every center of one row whose distance may be at most `limit`.
static inline __attribute__((always_inline)) long exact_body(
    const float *xi, const float *c, long k, long d, float nx, const float *center_roots, float gamma, float limit,
    float *di) {
    const float sx = __builtin_sqrtf(nx);
    long exact = 0;
    long j = 0;
    // Sixteen centers' tests at a time into a bit mask (branch-free, so they vectorise), then the
    // direct form for the few whose bit is set; the same tests as one by one.
    for (; j + 16 <= k; j += 16) {
        unsigned mask = 0;
        for (int l = 0; l < 16; l++) {
            float r = sx + center_roots[j + l];
            float e = gamma * r * r;
            mask |= (unsigned)(di[j + l] - e <= limit) << l;
        }
        while (mask) {
            int l = __builtin_ctz(mask);
            mask &= mask - 1;
            di[j + l] = direct_body(xi, c + (j + l) * d, d);
            exact++;
        }
    }
    for (; j < k; j++) {
        float r = sx + center_roots[j];
        float e = gamma * r * r;
        if (di[j] - e <= limit) {
            di[j] = direct_body(xi, c + j * d, d);
            exact++;
        }
    }
    return exact;
}

static inline __attribute__((always_inline)) long screen_body(
    const float *x, const float *c, long rows, long k, long d, const float *row_norms,
    const float *center_norms, const float *center_roots, float gamma, float window, float *dist) {
    long exact = 0;
    for (long i = 0; i < rows; i++) {
        float *di = dist + i * k;
        // The smallest upper bound is at least the nearest center's true distance; a center
        // whose distance may be within the window of it gets its exact distance, the others
        // keep a value certainly beyond the window.
        float upper = expand_body(row_norms[i], center_norms, center_roots, k, gamma, di, 0);
        exact += exact_body(x + i * d, c, k, d, row_norms[i], center_roots, gamma, upper + window, di);
    }
    return exact;
}

// k-means++'s potential of one trial: the sum over rows of min(closest, the trial's distance).
// Eight running sums, one per lane, added in a fixed order at the end: the same result on the
// baseline and the AVX2 path (no reassociation is asked of the compiler), and a loop that
// vectorises, where one running sum was a chain of dependent additions (most of the seeding's
// time at d 768, k 1024).
static inline __attribute__((always_inline)) double potential_body(const double *closest, const float *row, long m) {
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long i = 0;
    for (; i + 8 <= m; i += 8) {
        for (int l = 0; l < 8; l++) {
            double r = (double)row[i + l];
            double c = closest[i + l];
            lanes[l] += c < r ? c : r;
        }
    }
    double p = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    for (; i < m; i++) {
        double r = (double)row[i];
        p += closest[i] < r ? closest[i] : r;
    }
    return p;
}

// The sum of `m` values in the eight lanes and order of potential_body.
static inline __attribute__((always_inline)) double sum_body(const double *v, long m) {
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    long i = 0;
    for (; i + 8 <= m; i += 8) {
        for (int l = 0; l < 8; l++) lanes[l] += v[i + l];
    }
    double p = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    for (; i < m; i++) p += v[i];
    return p;
}

// closest = min(closest, row), and the new sums of each block of `block` rows (the last one
// shorter); returns their total.
static inline __attribute__((always_inline)) double lower_body(double *closest, const float *row, long m, long block,
                                                               double *sums) {
    double total = 0;
    for (long lo = 0, b = 0; lo < m; lo += block, b++) {
        long hi = lo + block < m ? lo + block : m;
        for (long i = lo; i < hi; i++) {
            double r = (double)row[i];
            closest[i] = closest[i] < r ? closest[i] : r;
        }
        sums[b] = sum_body(closest + lo, hi - lo);
        total += sums[b];
    }
    return total;
}

// One tile of the seeding's Gram matrix, rows [a0, a0 + rows) by columns [b0, b0 + cols) of the
// matrix g (rows `ld` floats apart): its entries above the diagonal hold −2·(inner product); each
// becomes the squared distance ‖a‖² + ‖b‖² − 2a·b (at least 0) and is also written at its mirror
// (b, a), and the diagonal becomes 0. In squares of 32: a square's rows are converted along the
// row (contiguous, so it vectorizes), then its mirror is written a row at a time from the column
// just converted, still in cache (writing both in one pass scattered a store per entry across
// 32 rows, and cost half again as much). A stride of a power of two would put a square's rows
// in one cache set: the caller pads `ld`. Plain additions in a fixed order, so both kernel paths
// give the same bits.
static inline __attribute__((always_inline)) void gram_tile_body(float *g, long ld, long a0, long rows, long b0,
                                                                 long cols, const float *norms) {
    const long s = 32;
    for (long as = a0; as < a0 + rows; as += s) {
        long ae = as + s < a0 + rows ? as + s : a0 + rows;
        for (long bs = b0; bs < b0 + cols; bs += s) {
            long be = bs + s < b0 + cols ? bs + s : b0 + cols;
            if (be <= as + 1) continue;
            for (long a = as; a < ae; a++) {
                float na = norms[a];
                float *row = g + a * ld;
                for (long b = bs > a + 1 ? bs : a + 1; b < be; b++) {
                    float v = (na + norms[b]) + row[b];
                    row[b] = v > 0 ? v : 0;
                }
            }
            for (long b = bs; b < be; b++) {
                float *mirror = g + b * ld;
                long top = b < ae ? b : ae;
                for (long a = as; a < top; a++) mirror[a] = g[a * ld + b];
            }
        }
    }
    for (long a = a0; a < a0 + rows; a++) {
        if (a >= b0 && a < b0 + cols) g[a * ld + a] = 0;
    }
}

// Matrix-product distances: g[i][j] holds −2·(inner product of row i and center j) and becomes
// max(0, (rn[i] + cn[j]) + g[i][j]). No multiply, so no contraction can change its rounding.
static inline __attribute__((always_inline)) void expand_rows_body(float *g, long n, long k, const float *rn,
                                                                   const float *cn) {
    for (long i = 0; i < n; i++) {
        float r = rn[i];
        float *row = g + i * k;
        for (long j = 0; j < k; j++) {
            float v = (r + cn[j]) + row[j];
            row[j] = v > 0 ? v : 0;
        }
    }
}

// sums[t] += x[t] in doubles: exact conversions and one rounding per addition, as a scalar loop.
static inline __attribute__((always_inline)) void add_doubles_body(double *sums, const float *x, long d) {
    for (long t = 0; t < d; t++) sums[t] += (double)x[t];
}

// The coincidence check's projections: keys[u·stride + j] = Σ_t dirs[u·d + t] · c[j·d + t] for
// `m` directions (a multiple of four), in doubles. Four directions at once, each with four running sums (one per lane)
// added in a fixed order at the end, so a row is read once per four directions and the loop
// vectorises; contraction is off, so both kernel paths give the same bits. (One running sum
// per direction was a chain of dependent additions: 4 ms a check at d 768, k 1024.)
static inline __attribute__((always_inline)) void project_body(const float *c, long k, long d, const double *dirs,
                                                               long m, double *keys, long stride) {
    _Pragma("clang fp contract(off)")
    for (long j = 0; j < k; j++) {
        const float *row = c + j * d;
        for (long u = 0; u + 4 <= m; u += 4) {
            const double *p0 = dirs + u * d, *p1 = p0 + d, *p2 = p1 + d, *p3 = p2 + d;
            double a0[4] = {0, 0, 0, 0}, a1[4] = {0, 0, 0, 0}, a2[4] = {0, 0, 0, 0}, a3[4] = {0, 0, 0, 0};
            long t = 0;
            for (; t + 4 <= d; t += 4) {
                for (int l = 0; l < 4; l++) {
                    double r = (double)row[t + l];
                    a0[l] += p0[t + l] * r;
                    a1[l] += p1[t + l] * r;
                    a2[l] += p2[t + l] * r;
                    a3[l] += p3[t + l] * r;
                }
            }
            double s0 = (a0[0] + a0[1]) + (a0[2] + a0[3]), s1 = (a1[0] + a1[1]) + (a1[2] + a1[3]);
            double s2 = (a2[0] + a2[1]) + (a2[2] + a2[3]), s3 = (a3[0] + a3[1]) + (a3[2] + a3[3]);
            for (; t < d; t++) {
                double r = (double)row[t];
                s0 += p0[t] * r;
                s1 += p1[t] * r;
                s2 += p2[t] * r;
                s3 += p3[t] * r;
            }
            keys[u * stride + j] = s0;
            keys[(u + 1) * stride + j] = s1;
            keys[(u + 2) * stride + j] = s2;
            keys[(u + 3) * stride + j] = s3;
        }
    }
}

#if defined(__x86_64__)
#define VORONOID_V3 __attribute__((target("avx2,fma")))
// min_vector_width lets the compiler use 512-bit vectors, which its default tuning avoids.
#define VORONOID_V4 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"), min_vector_width(512)))
// Each kernel's body compiled for AVX2 + FMA (name_v3) and for AVX-512 (name_v4, sixteen float
// lanes where the loops vectorise).
#define VORONOID_TARGETS(type, name, params, args)                         \
    static VORONOID_V3 type name##_v3 params { return name##_body args; } \
    static VORONOID_V4 type name##_v4 params { return name##_body args; }
#define VORONOID_TARGETS_VOID(name, params, args)                          \
    static VORONOID_V3 void name##_v3 params { name##_body args; }        \
    static VORONOID_V4 void name##_v4 params { name##_body args; }

VORONOID_TARGETS_VOID(distances, (const float *x, long rows, const float *c, long k, long d, float *out),
                      (x, rows, c, k, d, out))
VORONOID_TARGETS_VOID(axpy_difference, (float *delta, const float *x, const float *c, float f, long d),
                      (delta, x, c, f, d))
VORONOID_TARGETS_VOID(axpy, (float *y, const float *x, float a, long d), (y, x, a, d))
VORONOID_TARGETS_VOID(center_rows, (const float *x, long rows, long d, const float *mean, float *out, float *norms),
                      (x, rows, d, mean, out, norms))
VORONOID_TARGETS_VOID(row_norms, (const float *x, long rows, long d, float *norms), (x, rows, d, norms))
VORONOID_TARGETS(float, expand,
                 (float nx, const float *cn, const float *cr, long k, float gamma, float *di, float *bounded),
                 (nx, cn, cr, k, gamma, di, bounded))
VORONOID_TARGETS(long, exact,
                 (const float *xi, const float *c, long k, long d, float nx, const float *cr, float gamma, float limit,
                  float *di),
                 (xi, c, k, d, nx, cr, gamma, limit, di))
VORONOID_TARGETS(long, screen,
                 (const float *x, const float *c, long rows, long k, long d, const float *rn, const float *cn,
                  const float *cr, float gamma, float window, float *dist),
                 (x, c, rows, k, d, rn, cn, cr, gamma, window, dist))
VORONOID_TARGETS(double, potential, (const double *closest, const float *row, long m), (closest, row, m))
VORONOID_TARGETS_VOID(expand_rows, (float *g, long n, long k, const float *rn, const float *cn), (g, n, k, rn, cn))
VORONOID_TARGETS_VOID(add_doubles, (double *sums, const float *x, long d), (sums, x, d))
VORONOID_TARGETS_VOID(gram_tile, (float *g, long ld, long a0, long rows, long b0, long cols, const float *norms),
                      (g, ld, a0, rows, b0, cols, norms))
VORONOID_TARGETS_VOID(project, (const float *c, long k, long d, const double *dirs, long m, double *keys, long stride),
                      (c, k, d, dirs, m, keys, stride))
VORONOID_TARGETS(double, lower, (double *closest, const float *row, long m, long block, double *sums),
                 (closest, row, m, block, sums))

// 0: not asked yet, 1: baseline, 2: AVX2 + FMA, 3: AVX-512. Racing first calls ask twice, get one
// answer. The compiler's feature test also checks that the kernel saves the registers' state.
static int level;

static int best_level(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 1;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        return 3;
    return 2;
}

int voronoid_kernel_level(void) {
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l == 0) {
        l = best_level();
        __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    }
    return l;
}

int voronoid_set_kernel_level(int requested) {
    int best = best_level();
    int l = requested < 1 ? 1 : (requested > best ? best : requested);
    __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    return l;
}

// The screen's matrix product in bfloat16 (AVX-512 BF16's VDPBF16PS: sixteen lanes, each the sum of
// two products, twice float32's multiply-adds per instruction). Rows and centers are rounded to
// bfloat16 (8 significant bits, round to nearest even, input denormals to zero), their products
// summed in float32; the screen's bound widens for that rounding and the direct form decides,
// as with the float32 product.
//
// Layout of the packed centers: dimension pairs (t = 2q, 2q + 1) side by side, so one 32-bit
// broadcast of a row's pair meets sixteen centers' pairs in one instruction; centers in panels of
// 32 (two groups of 16), each panel all pairs deep:
// packed[((g / 2) · Q + q) · 64 + (g % 2) · 32 + 2l + e] = center 16g + l, coordinate 2q + e,
// with Q = ⌈d / 2⌉ pairs, zero past d. A register tile is 12 rows by one panel: 24 accumulators.
#define VORONOID_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16"), min_vector_width(512)))
#define BF16_TILE_ROWS 12
// A row's pair of bfloat16 values read as one 32-bit word (for the broadcast); may_alias, as the
// rows are written as 16-bit values.
typedef int32_t __attribute__((may_alias)) bf16_pair;

// Sixteen rows of sixteen 32-bit words transposed in registers: r[q] ends as word q of each row.
static VORONOID_BF16 inline __attribute__((always_inline)) void transpose16x16(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    // u[4i + e] holds, in 128-bit lane L, word 4L + e of rows 4i..4i+3; gather the lanes.
    for (int e = 0; e < 4; e++) {
        __m512i v = _mm512_shuffle_i32x4(u[e], u[4 + e], 0x88), v2 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0xDD);
        __m512i y = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0x88), y2 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0xDD);
        r[e] = _mm512_shuffle_i32x4(v, y, 0x88);
        r[8 + e] = _mm512_shuffle_i32x4(v, y, 0xDD);
        r[4 + e] = _mm512_shuffle_i32x4(v2, y2, 0x88);
        r[12 + e] = _mm512_shuffle_i32x4(v2, y2, 0xDD);
    }
}

// The lanes of 32 floats from `t` on that lie before `d`, as two 16-lane masks.
static inline __attribute__((always_inline)) void bf16_masks(long d, long t, __mmask16 *low, __mmask16 *high) {
    long left = d - t;
    *low = left >= 16 ? (__mmask16)0xffff : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
    *high = left >= 32 ? (__mmask16)0xffff : left <= 16 ? (__mmask16)0 : (__mmask16)((1u << (left - 16)) - 1);
}

static VORONOID_BF16 void bf16_pack_centers(const float *c, const float *mean, long lo, long hi, long k, long d,
                                            uint16_t *packed, float *norms) {
    const long pairs = (d + 1) / 2;
    uint32_t *words = (uint32_t *)packed;
    for (long g = lo / 16; g * 16 < hi && g * 16 < k; g++) {
        uint32_t *group = words + (g / 2) * pairs * 32 + (g % 2) * 16;
        float sums[16] = {0};
        for (long q0 = 0; q0 < pairs; q0 += 16) {
            __mmask16 low, high;
            bf16_masks(d, 2 * q0, &low, &high);
            __m512i r[16];
            for (int l = 0; l < 16; l++) {
                if (g * 16 + l < k) {
                    const float *src = c + (g * 16 + l) * d + 2 * q0;
                    __m512 a = _mm512_maskz_loadu_ps(low, src), b = _mm512_maskz_loadu_ps(high, src + 16);
                    if (mean) {
                        a = _mm512_sub_ps(a, _mm512_maskz_loadu_ps(low, mean + 2 * q0));
                        b = _mm512_sub_ps(b, _mm512_maskz_loadu_ps(high, mean + 2 * q0 + 16));
                    }
                    if (norms) sums[l] += _mm512_reduce_add_ps(_mm512_fmadd_ps(a, a, _mm512_mul_ps(b, b)));
                    r[l] = (__m512i)_mm512_cvtne2ps_pbh(b, a);
                } else {
                    r[l] = _mm512_setzero_si512();
                }
            }
            transpose16x16(r);
            long count = pairs - q0 < 16 ? pairs - q0 : 16;
            for (long q = 0; q < count; q++) _mm512_storeu_si512(group + (q0 + q) * 32, r[q]);
        }
        if (norms) {
            for (int l = 0; l < 16 && g * 16 + l < k; l++) norms[g * 16 + l] = sums[l];
        }
    }
}

static VORONOID_BF16 void bf16_rows(const float *x, long rows, long d, const float *mean, uint16_t *out,
                                    float *norms) {
    const long stride = (d + 1) & ~1L;
    for (long i = 0; i < rows; i++) {
        const float *xi = x + i * d;
        uint16_t *oi = out + i * stride;
        __m512 n = _mm512_setzero_ps();
        for (long t = 0; t < d; t += 32) {
            __mmask16 low, high;
            bf16_masks(d, t, &low, &high);
            __m512 a = _mm512_maskz_loadu_ps(low, xi + t), b = _mm512_maskz_loadu_ps(high, xi + t + 16);
            if (mean) {
                a = _mm512_sub_ps(a, _mm512_maskz_loadu_ps(low, mean + t));
                b = _mm512_sub_ps(b, _mm512_maskz_loadu_ps(high, mean + t + 16));
            }
            n = _mm512_fmadd_ps(a, a, n);
            n = _mm512_fmadd_ps(b, b, n);
            long left = stride - t;
            __mmask32 m = left >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << left) - 1);
            _mm512_mask_storeu_epi16(oi + t, m, (__m512i)_mm512_cvtne2ps_pbh(b, a));
        }
        norms[i] = _mm512_reduce_add_ps(n);
    }
}

// One register tile: `rows` (at most 12) rows against one panel, all pairs deep, written to the
// columns of `out` that `m0` and `m1` keep.
static VORONOID_BF16 inline __attribute__((always_inline)) void bf16_tile(
    const uint16_t *x, long stride, int rows, const uint16_t *panel, long pairs, float *out, long ldo,
    __mmask16 m0, __mmask16 m1) {
    __m512 acc[BF16_TILE_ROWS][2];
    const bf16_pair *row[BF16_TILE_ROWS];
#pragma clang loop unroll(full)
    for (int r = 0; r < BF16_TILE_ROWS; r++) {
        acc[r][0] = _mm512_setzero_ps();
        acc[r][1] = _mm512_setzero_ps();
        // Rows past the last repeat row 0: their sums are computed and never stored.
        row[r] = (const bf16_pair *)(x + (r < rows ? r : 0) * stride);
    }
    for (long q = 0; q < pairs; q++) {
        __m512bh c0 = (__m512bh)_mm512_loadu_si512(panel + q * 64);
        __m512bh c1 = (__m512bh)_mm512_loadu_si512(panel + q * 64 + 32);
#pragma clang loop unroll(full)
        for (int r = 0; r < BF16_TILE_ROWS; r++) {
            __m512bh v = (__m512bh)_mm512_set1_epi32(row[r][q]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], c0, v);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], c1, v);
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < BF16_TILE_ROWS; r++) {
        if (r < rows) {
            _mm512_mask_storeu_ps(out + r * ldo, m0, acc[r][0]);
            _mm512_mask_storeu_ps(out + r * ldo + 16, m1, acc[r][1]);
        }
    }
}

static VORONOID_BF16 void bf16_products(const uint16_t *x, long n, const uint16_t *packed, long k, long d, float *out) {
    const long stride = (d + 1) & ~1L, pairs = stride / 2, panels = (k + 31) / 32;
    // Panels a block of 512 KiB, which stays in the second-level cache while every row tile
    // passes over it; a row tile (12 rows) stays in the first.
    long block = (512L * 1024) / (stride * 64);
    if (block < 1) block = 1;
    for (long p0 = 0; p0 < panels; p0 += block) {
        long p1 = p0 + block < panels ? p0 + block : panels;
        for (long i = 0; i < n; i += BF16_TILE_ROWS) {
            int rows = n - i < BF16_TILE_ROWS ? (int)(n - i) : BF16_TILE_ROWS;
            for (long p = p0; p < p1; p++) {
                __mmask16 m0, m1;
                bf16_masks(k, p * 32, &m0, &m1);
                bf16_tile(x + i * stride, stride, rows, packed + p * pairs * 64, pairs, out + i * k + p * 32, k, m0, m1);
            }
        }
    }
}

// -1: not asked yet; else whether the processor has the instructions.
static int bf16_state = -1;

int voronoid_bfloat16_available(void) {
    int s = __atomic_load_n(&bf16_state, __ATOMIC_RELAXED);
    if (s < 0) {
        __builtin_cpu_init();
        s = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512dq");
        __atomic_store_n(&bf16_state, s, __ATOMIC_RELAXED);
    }
    return s;
}

void voronoid_bfloat16_pack_centers(const float *centers, const float *mean, long lo, long hi, long k, long d,
                                    uint16_t *packed, float *norms) {
    bf16_pack_centers(centers, mean, lo, hi, k, d, packed, norms);
}

void voronoid_bfloat16_rows(const float *x, long rows, long d, const float *mean, uint16_t *out, float *norms) {
    bf16_rows(x, rows, d, mean, out, norms);
}

void voronoid_bfloat16_products_into(const uint16_t *rows, long n, const uint16_t *packed, long k, long d, float *out) {
    bf16_products(rows, n, packed, k, d, out);
}

#define VORONOID_DISPATCH(v4_call, v3_call, base_call) \
    do {                                                  \
        int l_ = voronoid_kernel_level();                 \
        if (l_ == 3) { v4_call; }                         \
        else if (l_ == 2) { v3_call; }                    \
        else { base_call; }                               \
    } while (0)
#else
int voronoid_kernel_level(void) { return 1; }
int voronoid_set_kernel_level(int requested) { (void)requested; return 1; }
#define VORONOID_DISPATCH(v4_call, v3_call, base_call) do { base_call; } while (0)
int voronoid_bfloat16_available(void) { return 0; }
void voronoid_bfloat16_pack_centers(const float *centers, const float *mean, long lo, long hi, long k, long d,
                                    uint16_t *packed, float *norms) {
    (void)centers; (void)mean; (void)lo; (void)hi; (void)k; (void)d; (void)packed; (void)norms;
}
void voronoid_bfloat16_rows(const float *x, long rows, long d, const float *mean, uint16_t *out, float *norms) {
    (void)x; (void)rows; (void)d; (void)mean; (void)out; (void)norms;
}
void voronoid_bfloat16_products_into(const uint16_t *rows, long n, const uint16_t *packed, long k, long d, float *out) {
    (void)rows; (void)n; (void)packed; (void)k; (void)d; (void)out;
}
#endif

void voronoid_squared_distances(const float *x, long rows, const float *c, long k, long d, float *out) {
    VORONOID_DISPATCH(distances_v4(x, rows, c, k, d, out),
                      distances_v3(x, rows, c, k, d, out),
                      distances_body(x, rows, c, k, d, out));
}

void voronoid_add_scaled_difference(float *delta, const float *x, const float *c, float f, long d) {
    VORONOID_DISPATCH(axpy_difference_v4(delta, x, c, f, d),
                      axpy_difference_v3(delta, x, c, f, d),
                      axpy_difference_body(delta, x, c, f, d));
}

void voronoid_add_scaled(float *y, const float *x, float a, long d) {
    VORONOID_DISPATCH(axpy_v4(y, x, a, d),
                      axpy_v3(y, x, a, d),
                      axpy_body(y, x, a, d));
}

void voronoid_row_norms(const float *x, long rows, long d, float *norms) {
    VORONOID_DISPATCH(row_norms_v4(x, rows, d, norms),
                      row_norms_v3(x, rows, d, norms),
                      row_norms_body(x, rows, d, norms));
}

void voronoid_center_rows(const float *x, long rows, long d, const float *mean, float *out, float *norms) {
    VORONOID_DISPATCH(center_rows_v4(x, rows, d, mean, out, norms),
                      center_rows_v3(x, rows, d, mean, out, norms),
                      center_rows_body(x, rows, d, mean, out, norms));
}

long voronoid_screen_distances(const float *x, const float *c, long rows, long k, long d, const float *row_norms,
                               const float *center_norms, const float *center_roots, float gamma, float window,
                               float *dist) {
    long exact = 0;
    VORONOID_DISPATCH(
        exact = screen_v4(x, c, rows, k, d, row_norms, center_norms, center_roots, gamma, window, dist),
        exact = screen_v3(x, c, rows, k, d, row_norms, center_norms, center_roots, gamma, window, dist),
        exact = screen_body(x, c, rows, k, d, row_norms, center_norms, center_roots, gamma, window, dist));
    return exact;
}

float voronoid_screen_expand(float row_norm, const float *center_norms, const float *center_roots, long k, float gamma,
                             float *dist, float *bounded) {
    float upper = 0;
    VORONOID_DISPATCH(upper = expand_v4(row_norm, center_norms, center_roots, k, gamma, dist, bounded),
                      upper = expand_v3(row_norm, center_norms, center_roots, k, gamma, dist, bounded),
                      upper = expand_body(row_norm, center_norms, center_roots, k, gamma, dist, bounded));
    return upper;
}

long voronoid_screen_exact(const float *x, const float *c, long k, long d, float row_norm, const float *center_roots,
                           float gamma, float limit, float *dist) {
    long exact = 0;
    VORONOID_DISPATCH(exact = exact_v4(x, c, k, d, row_norm, center_roots, gamma, limit, dist),
                      exact = exact_v3(x, c, k, d, row_norm, center_roots, gamma, limit, dist),
                      exact = exact_body(x, c, k, d, row_norm, center_roots, gamma, limit, dist));
    return exact;
}

double voronoid_seeding_potential(const double *closest, const float *row, long m) {
    double p = 0;
    VORONOID_DISPATCH(p = potential_v4(closest, row, m),
                      p = potential_v3(closest, row, m),
                      p = potential_body(closest, row, m));
    return p;
}

double voronoid_seeding_lower(double *closest, const float *row, long m, long block, double *sums) {
    double total = 0;
    VORONOID_DISPATCH(total = lower_v4(closest, row, m, block, sums),
                      total = lower_v3(closest, row, m, block, sums),
                      total = lower_body(closest, row, m, block, sums));
    return total;
}

void voronoid_expand_rows(float *g, long n, long k, const float *row_norms, const float *center_norms) {
    VORONOID_DISPATCH(expand_rows_v4(g, n, k, row_norms, center_norms),
                      expand_rows_v3(g, n, k, row_norms, center_norms),
                      expand_rows_body(g, n, k, row_norms, center_norms));
}

void voronoid_add_doubles(double *sums, const float *x, long d) {
    VORONOID_DISPATCH(add_doubles_v4(sums, x, d),
                      add_doubles_v3(sums, x, d),
                      add_doubles_body(sums, x, d));
}

void voronoid_gram_tile(float *g, long ld, long a0, long rows, long b0, long cols, const float *norms) {
    VORONOID_DISPATCH(gram_tile_v4(g, ld, a0, rows, b0, cols, norms),
                      gram_tile_v3(g, ld, a0, rows, b0, cols, norms),
                      gram_tile_body(g, ld, a0, rows, b0, cols, norms));
}

void voronoid_project_rows(const float *c, long k, long d, const double *dirs, long m, double *keys, long stride) {
    VORONOID_DISPATCH(project_v4(c, k, d, dirs, m, keys, stride),
                      project_v3(c, k, d, dirs, m, keys, stride),
                      project_body(c, k, d, dirs, m, keys, stride));
}
