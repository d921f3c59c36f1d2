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

#if defined(__x86_64__)
#define VORONOID_V3 __attribute__((target("avx2,fma")))
static VORONOID_V3 void distances_v3(const float *x, long rows, const float *c, long k, long d, float *out) {
    distances_body(x, rows, c, k, d, out);
}
static VORONOID_V3 void axpy_difference_v3(float *delta, const float *x, const float *c, float f, long d) {
    axpy_difference_body(delta, x, c, f, d);
}
static VORONOID_V3 void axpy_v3(float *y, const float *x, float a, long d) { axpy_body(y, x, a, d); }

// 0: not asked yet, 1: baseline, 2: AVX2 + FMA. Racing first calls ask twice, get one answer.
static int level;

int voronoid_kernel_level(void) {
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l == 0) {
        __builtin_cpu_init();
        l = (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 2 : 1;
        __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    }
    return l;
}

int voronoid_set_kernel_level(int requested) {
    int best = (__builtin_cpu_init(), __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 2 : 1;
    int l = requested < 1 ? 1 : (requested > best ? best : requested);
    __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    return l;
}

#define VORONOID_DISPATCH(v3_call, base_call) \
    do { if (voronoid_kernel_level() == 2) { v3_call; } else { base_call; } } while (0)
#else
int voronoid_kernel_level(void) { return 1; }
int voronoid_set_kernel_level(int requested) { (void)requested; return 1; }
#define VORONOID_DISPATCH(v3_call, base_call) do { base_call; } while (0)
#endif

void voronoid_squared_distances(const float *x, long rows, const float *c, long k, long d, float *out) {
    VORONOID_DISPATCH(distances_v3(x, rows, c, k, d, out), distances_body(x, rows, c, k, d, out));
}

void voronoid_add_scaled_difference(float *delta, const float *x, const float *c, float f, long d) {
    VORONOID_DISPATCH(axpy_difference_v3(delta, x, c, f, d), axpy_difference_body(delta, x, c, f, d));
}

void voronoid_add_scaled(float *y, const float *x, float a, long d) {
    VORONOID_DISPATCH(axpy_v3(y, x, a, d), axpy_body(y, x, a, d));
}
