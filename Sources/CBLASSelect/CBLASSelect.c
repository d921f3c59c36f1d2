// OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels for the processor when it is
// loaded. A release older than the processor does not recognise it and falls back to a generic
// SSE3 kernel ("Prescott"): Debian 12's 0.3.21 on a 2023 Xeon (family 6, model 207) runs sgemm
// at 33 GFLOP/s on one core where its own AVX-512 kernel, named by hand, runs at 80–100.
// OpenBLAS reads OPENBLAS_CORETYPE only while it selects, so once it is loaded this asks it to
// select again, naming the best family the processor and the kernel's saved state support.
// An OPENBLAS_CORETYPE set by the operator is left to OpenBLAS.
#define _GNU_SOURCE
#include "CBLASSelect.h"
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

static char detected[32];
static char current[32];

static const char *name_now(void) {
    char *(*corename)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    return corename ? corename() : "";
}

// Families OpenBLAS falls back to for a processor it does not know; any other name is a choice
// made for this processor and stays.
static int is_fallback(const char *name) {
    static const char *const fallbacks[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
                                            "Barcelona", "Opteron_SSE3", "Opteron", NULL};
    for (int i = 0; fallbacks[i]; i++)
        if (strcmp(name, fallbacks[i]) == 0) return 1;
    return 0;
}

static void copy_name(char *to, const char *from) {
    strncpy(to, from ? from : "", 31);
    to[31] = 0;
}

__attribute__((constructor)) static void voronoid_select_blas_core(void) {
    copy_name(detected, name_now());
    copy_name(current, detected);
#if defined(__x86_64__)
    if (getenv("OPENBLAS_CORETYPE") || !is_fallback(detected)) return;
    void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    if (!quit || !init) return;
    __builtin_cpu_init();
    // The compiler's feature test also checks that the kernel saves the registers' state.
    const char *want = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd"))
        want = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        want = "Haswell";
    if (!want) return;
    // Constructors run before main, on one thread, and OpenBLAS's pool threads are idle until
    // the first call, so the kernel table can be swapped here.
    setenv("OPENBLAS_CORETYPE", want, 1);
    quit();
    init();
    unsetenv("OPENBLAS_CORETYPE");
    copy_name(current, name_now());
#endif
}

const char *voronoid_blas_core(void) { return current; }
const char *voronoid_blas_core_detected(void) { return detected; }

// OpenBLAS starts a pool of threads when it is loaded, and each spins on sched_yield for about a
// tenth of a second before it sleeps. voronoid never uses them: every product runs on the thread
// of the part that asks for it (model.threads own the cores; useOneBLASThread() in the core), and
// the spin took a core from whatever the daemon did first. The pool is set to one thread and
// shut down (whatever OPENBLAS_NUM_THREADS says: the core would set one thread anyway); OpenBLAS
// starts it again only if asked for more threads.
__attribute__((constructor)) static void voronoid_stop_blas_pool(void) {
    void (*set_threads)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    int (*shutdown)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
    if (!set_threads || !shutdown) return;
    set_threads(1);
    shutdown();
}
