/* Portable UTF-8 -> code points, and the decoder dispatch.
 *
 * The scan validates with the scalar validator (utf8_scalar.c), then counts
 * the bytes that start a code point (everything but 80..BF) and keeps the
 * largest byte, eight bytes at a time. The transcoders trust their input:
 * the scan validated it, so each lead byte says how many continuation bytes
 * follow, and runs of ASCII are copied eight bytes at a time.
 */
#include <string.h>
#include "wsf_cpu.h"
#include "utf8.h"
#include "utf8_decode.h"

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* 0x80 in each byte of w that is a continuation byte (80..BF): high bit set, next bit clear */
static inline uint64_t continuations(uint64_t w) {
    return w & ~(w << 1) & HIGHS;
}

static inline uint64_t load64(const unsigned char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

int wsf_utf8_scan_scalar(const unsigned char *s, size_t n, wsf_utf8_info *info) {
    size_t i = 0, cont = 0;
    unsigned char max = 0;
    if (!wsf_utf8_scalar(s, n)) return 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = load64(s + i);
        if (w & HIGHS) {
            int k;
            cont += (size_t)(((continuations(w) >> 7) * ONES) >> 56);  /* bytes with the mark */
            for (k = 0; k < 8; k++)
                if (s[i + k] > max) max = s[i + k];
        }
    }
    for (; i < n; i++) {
        if ((s[i] & 0xC0) == 0x80) cont++;
        if (s[i] > max) max = s[i];
    }
    info->chars = n - cont;
    info->max = max;
    return 1;
}

/* One code point from valid UTF-8 at s[*i], advancing *i. */
static inline uint32_t next_code_point(const unsigned char *s, size_t *i) {
    uint32_t c = s[*i];
    if (c < 0x80) {
        *i += 1;
        return c;
    }
    if (c < 0xE0) {
        c = ((c & 0x1F) << 6) | (s[*i + 1] & 0x3F);
        *i += 2;
        return c;
    }
    if (c < 0xF0) {
        c = ((c & 0x0F) << 12) | ((uint32_t)(s[*i + 1] & 0x3F) << 6) | (s[*i + 2] & 0x3F);
        *i += 3;
        return c;
    }
    c = ((c & 0x07) << 18) | ((uint32_t)(s[*i + 1] & 0x3F) << 12) | ((uint32_t)(s[*i + 2] & 0x3F) << 6) |
        (s[*i + 3] & 0x3F);
    *i += 4;
    return c;
}

/* the same loop for each width: ASCII eight bytes at a time, the rest one code point at a time */
#define DEFINE_TO_UCS(name, type)                                                   \
    void name(const unsigned char *s, size_t n, type *out, size_t chars) {          \
        size_t i = 0, o = 0;                                                        \
        while (i < n && o < chars) {                                                \
            if (i + 8 <= n && o + 8 <= chars && !(load64(s + i) & HIGHS)) {         \
                int k;                                                              \
                for (k = 0; k < 8; k++) out[o + k] = (type)s[i + k];                \
                i += 8;                                                             \
                o += 8;                                                             \
                continue;                                                           \
            }                                                                       \
            out[o++] = (type)next_code_point(s, &i);                                \
        }                                                                           \
    }

DEFINE_TO_UCS(wsf_utf8_to_ucs1_scalar, uint8_t)
DEFINE_TO_UCS(wsf_utf8_to_ucs2_scalar, uint16_t)
DEFINE_TO_UCS(wsf_utf8_to_ucs4_scalar, uint32_t)

/* ---- dispatch ---------------------------------------------------------------------------- */

/* Each decoder is a set of four functions: the dispatch table (the one of wsf_cpu.h) lists,
 * per instruction set, a function that returns its set. */
static const wsf_utf8_decoder scalar_decoder = {
    "scalar", wsf_utf8_scan_scalar, wsf_utf8_to_ucs1_scalar, wsf_utf8_to_ucs2_scalar,
    wsf_utf8_to_ucs4_scalar};

static const wsf_utf8_decoder *get_scalar(void) { return &scalar_decoder; }

#if defined(WSF_X86_64)
static const wsf_utf8_decoder avx2_decoder = {
    "avx2", wsf_utf8_scan_avx2, wsf_utf8_to_ucs1_avx2, wsf_utf8_to_ucs2_avx2, wsf_utf8_to_ucs4_avx2};

static const wsf_utf8_decoder *get_avx2(void) {
    wsf_utf8_decode_avx2_prepare();
    return &avx2_decoder;
}
#endif

typedef const wsf_utf8_decoder *(*get_decoder)(void);

static const wsf_kernel_entry decoders[] = {
    WSF_KERNEL("scalar", get_scalar, 0),
#if defined(WSF_X86_64)
    WSF_KERNEL("avx2", get_avx2, WSF_CPU_AVX2),
#endif
};

static wsf_dispatch dispatch = WSF_DISPATCH(decoders);

const wsf_utf8_decoder *wsf_utf8_decoder_kernel(int index) {
    get_decoder get = (get_decoder)wsf_dispatch_at(&dispatch, index, NULL);
    return get ? get() : NULL;
}

const wsf_utf8_decoder *wsf_utf8_decoder_best(void) {
    return ((get_decoder)wsf_dispatch_fn(&dispatch))();
}
