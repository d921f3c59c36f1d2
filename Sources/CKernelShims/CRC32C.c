// CRC-32C (Castagnoli) of the model-state format. A model of k 4096, d 1536 is 25 MB and a
// coordinator encodes one per step, so the byte-at-a-time table (about 1 byte per cycle) would
// cost more than the step: SSE 4.2 has the polynomial in hardware (8 bytes per instruction), and
// elsewhere eight tables consume 8 bytes per round.
#include "CKernelShims.h"
#include <pthread.h>
#include <string.h>

static uint32_t tables[8][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int b = 0; b < 8; b++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        tables[0][i] = c;
    }
    for (int t = 1; t < 8; t++) {
        for (uint32_t i = 0; i < 256; i++) tables[t][i] = (tables[t - 1][i] >> 8) ^ tables[0][tables[t - 1][i] & 0xFF];
    }
}

// The register form: the caller inverts before and after.
static uint32_t crc32c_tables(uint32_t crc, const unsigned char *p, long n) {
    pthread_once(&tables_once, build_tables);
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;  // the little-endian load puts the first byte lowest, as the table form expects
        crc = tables[7][w & 0xFF] ^ tables[6][(w >> 8) & 0xFF] ^ tables[5][(w >> 16) & 0xFF] ^
              tables[4][(w >> 24) & 0xFF] ^ tables[3][(w >> 32) & 0xFF] ^ tables[2][(w >> 40) & 0xFF] ^
              tables[1][(w >> 48) & 0xFF] ^ tables[0][w >> 56];
    }
    for (; n > 0; n--, p++) crc = tables[0][(crc ^ *p) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *p, long n) {
    uint64_t c = crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
    }
    uint32_t c32 = (uint32_t)c;
    for (; n > 0; n--, p++) c32 = __builtin_ia32_crc32qi(c32, *p);
    return c32;
}
#endif

uint32_t voronoid_crc32c(const void *bytes, long count, int allow_hardware) {
    const unsigned char *p = bytes;
    uint32_t crc = 0xFFFFFFFFu;
#if defined(__x86_64__)
    if (allow_hardware && (__builtin_cpu_init(), __builtin_cpu_supports("sse4.2"))) {
        return crc32c_hardware(crc, p, count) ^ 0xFFFFFFFFu;
    }
#else
    (void)allow_hardware;
#endif
    return crc32c_tables(crc, p, count) ^ 0xFFFFFFFFu;
}
