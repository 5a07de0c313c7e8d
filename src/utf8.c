/* UTF-8 validation entry points: kernel dispatch (chosen once per process)
 * and the incremental, fail-fast validator built on top of the kernels. */
#include <stddef.h>
#include "wsf_cpu.h"
#include "utf8.h"

static const struct { const char *name; wsf_utf8_fn fn; unsigned needs; } kernels[] = {
    {"scalar", wsf_utf8_scalar, 0},
#if defined(WSF_X86_64)
    {"sse2", wsf_utf8_sse2, WSF_CPU_SSE2},
    {"ssse3", wsf_utf8_ssse3, WSF_CPU_SSSE3},
    {"avx2", wsf_utf8_avx2, WSF_CPU_AVX2},
    {"avx512", wsf_utf8_avx512, WSF_CPU_AVX512BW},
#endif
#if defined(WSF_ARM64)
    {"neon", wsf_utf8_neon, WSF_CPU_NEON},
#endif
};
#define N_KERNELS ((int)(sizeof(kernels) / sizeof(kernels[0])))

static wsf_utf8_fn best_fn = NULL;
static int best = -1;

static void pick(void) {
    unsigned have = wsf_cpu_features();
    int i, chosen = 0;
    for (i = 0; i < N_KERNELS; i++)
        if ((kernels[i].needs & have) == kernels[i].needs) chosen = i;
    best = chosen;        /* benign race: every thread picks the same kernel */
    best_fn = kernels[chosen].fn;
}

static inline wsf_utf8_fn best_kernel(void) {
    if (best_fn == NULL) pick();
    return best_fn;
}

int wsf_utf8_validate(const unsigned char *buf, size_t n) {
    return best_kernel()(buf, n);
}

wsf_utf8_fn wsf_utf8_kernel(int index, const char **name) {
    unsigned have = wsf_cpu_features();
    if (index < 0 || index >= N_KERNELS) return NULL;
    if ((kernels[index].needs & have) != kernels[index].needs) return NULL;
    if (name) *name = kernels[index].name;
    return kernels[index].fn;
}

const char *wsf_utf8_best_name(void) {
    if (best < 0) pick();
    return kernels[best].name;
}

/* ---- incremental validation ------------------------------------------ */

void wsf_utf8_init(wsf_utf8_state *st) {
    st->need = 0;
    st->lo = 0x80;
    st->hi = 0xBF;
    st->failed = 0;
}

/* One byte through the decoder state. Returns 0 when the byte makes the text
 * impossible: the allowed range of the first continuation byte encodes the
 * overlong, surrogate and > U+10FFFF rules, so an impossible prefix such as
 * ED A0 or F4 90 is rejected on the byte that makes it impossible. */
static inline int step(wsf_utf8_state *st, unsigned char c) {
    if (st->need) {
        if (c < st->lo || c > st->hi) return 0;
        st->need--;
        st->lo = 0x80;
        st->hi = 0xBF;
        return 1;
    }
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;                 /* stray continuation, C0/C1 */
    st->lo = 0x80;                          /* (a zeroed state has lo = hi = 0) */
    st->hi = 0xBF;
    if (c < 0xE0) {
        st->need = 1;
    } else if (c < 0xF0) {
        st->need = 2;
        if (c == 0xE0) st->lo = 0xA0;       /* overlong below U+0800 */
        if (c == 0xED) st->hi = 0x9F;       /* surrogates U+D800-DFFF */
    } else if (c < 0xF5) {
        st->need = 3;
        if (c == 0xF0) st->lo = 0x90;       /* overlong below U+10000 */
        if (c == 0xF4) st->hi = 0x8F;       /* above U+10FFFF */
    } else {
        return 0;                           /* F5..FF */
    }
    return 1;
}

/* Where the incomplete sequence at the end of buf[0:n] starts (n if none).
 * Only the last three bytes can hold one: a lead byte whose sequence is longer
 * than what follows it. Invalid bytes are left for the kernel to reject. */
static inline size_t tail_start(const unsigned char *buf, size_t n) {
    size_t k;
    for (k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = buf[n - k];
        if ((c & 0xC0) != 0x80) {           /* first byte that is not a continuation */
            size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            return len > k ? n - k : n;
        }
    }
    return n;
}

int wsf_utf8_feed(wsf_utf8_state *st, const unsigned char *buf, size_t n) {
    size_t i = 0, end;
    if (st->failed) return 0;
    /* finish the sequence left pending by the previous chunk, byte by byte */
    while (st->need && i < n) {
        if (!step(st, buf[i])) goto fail;
        i++;
    }
    if (i == n) return 1;
    /* the bulk up to an incomplete trailing sequence goes through the fast kernel */
    end = i + tail_start(buf + i, n - i);
    if (end > i && !best_kernel()(buf + i, end - i)) goto fail;
    /* the trailing prefix (at most 3 bytes) is checked byte by byte and kept as state */
    for (i = end; i < n; i++)
        if (!step(st, buf[i])) goto fail;
    return 1;
fail:
    st->failed = 1;
    return 0;
}

int wsf_utf8_finish(const wsf_utf8_state *st) {
    return !st->failed && st->need == 0;
}
