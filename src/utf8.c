/* UTF-8 validation entry points: kernel dispatch (chosen once per process)
 * and the incremental, fail-fast validator built on top of the kernels. */
#include <stddef.h>
#include "wsf_cpu.h"
#include "utf8.h"

static const wsf_kernel_entry kernels[] = {
    WSF_KERNEL("scalar", wsf_utf8_scalar, 0),
#if defined(WSF_X86_64)
    WSF_KERNEL("sse2", wsf_utf8_sse2, WSF_CPU_SSE2),
    WSF_KERNEL("ssse3", wsf_utf8_ssse3, WSF_CPU_SSSE3),
    WSF_KERNEL("avx2", wsf_utf8_avx2, WSF_CPU_AVX2),
    WSF_KERNEL("avx512", wsf_utf8_avx512, WSF_CPU_AVX512BW),
#endif
#if defined(WSF_ARM64)
    WSF_KERNEL("neon", wsf_utf8_neon, WSF_CPU_NEON),
#endif
};

static wsf_dispatch dispatch = WSF_DISPATCH(kernels);

static inline wsf_utf8_fn best_kernel(void) {
    return (wsf_utf8_fn)(dispatch.fn ? dispatch.fn : wsf_dispatch_fn(&dispatch));
}

int wsf_utf8_validate(const unsigned char *buf, size_t n) {
    return best_kernel()(buf, n);
}

wsf_utf8_fn wsf_utf8_kernel(int index, const char **name) {
    return (wsf_utf8_fn)wsf_dispatch_at(&dispatch, index, name);
}

const char *wsf_utf8_best_name(void) {
    return wsf_dispatch_name(&dispatch);
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
