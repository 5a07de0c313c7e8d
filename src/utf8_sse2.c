/* The 128-bit x86 UTF-8 kernels.
 *
 * sse2: every x86-64 CPU has it, but it has no byte shuffle, so it is a
 *   vectorised ASCII skip around the scalar automaton: ASCII stretches go 64
 *   bytes per step, and each non-ASCII stretch -- up to the next 16 ASCII
 *   bytes in a row, where a character necessarily starts -- is handed whole
 *   to wsf_utf8_scalar.
 * ssse3: the Keiser & Lemire lookup algorithm (pshufb does the nibble
 *   lookups, palignr the shifts across vectors), 64 bytes per iteration; for
 *   the CPUs without AVX2 that are still around (older Core, Atom-class).
 */
#include <string.h>
#include "wsf_cpu.h"
#include "utf8.h"
#if defined(WSF_X86_64)
#include <emmintrin.h>
#include <tmmintrin.h>

WSF_TARGET_SSE2
static inline int ascii64(const unsigned char *p) {
    __m128i a = _mm_loadu_si128((const __m128i *)p);
    __m128i b = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i d = _mm_loadu_si128((const __m128i *)(p + 48));
    return _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))) == 0;
}

WSF_TARGET_SSE2
static inline int ascii16(const unsigned char *p) {
    return _mm_movemask_epi8(_mm_loadu_si128((const __m128i *)p)) == 0;
}

WSF_TARGET_SSE2
int wsf_utf8_sse2(const unsigned char *s, size_t n) {
    size_t i = 0, j;
    while (i + 16 <= n) {
        /* here a character starts at s[i] */
        while (i + 64 <= n && ascii64(s + i)) i += 64;
        while (i + 16 <= n && ascii16(s + i)) i += 16;
        if (i + 16 > n) break;
        /* a non-ASCII stretch: it ends where 16 ASCII bytes begin (or at the end) */
        j = i + 16;
        while (j + 16 <= n && !ascii16(s + j)) j += 16;
        if (j + 16 > n) j = n;
        if (!wsf_utf8_scalar(s + i, j - i)) return 0;
        i = j;
    }
    return wsf_utf8_scalar(s + i, n - i);
}

static const unsigned char prev_high[16] = {WSF_UTF8_PREV_HIGH};
static const unsigned char prev_low[16] = {WSF_UTF8_PREV_LOW};
static const unsigned char cur_high[16] = {WSF_UTF8_CUR_HIGH};
/* a byte above these in the last three positions starts an unfinished sequence */
static const unsigned char incomplete_max[16] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xEF, 0xDF, 0xBF};

typedef struct {
    __m128i t_prev_high, t_prev_low, t_cur_high, nibble, third, fourth, high_bit;
} tables;

WSF_TARGET_SSSE3
static inline __m128i check(const tables *t, __m128i cur, __m128i prev) {
    /* the 16 bytes ending 1, 2, 3 bytes before the end of cur */
    __m128i prev1 = _mm_alignr_epi8(cur, prev, 15);
    __m128i prev2 = _mm_alignr_epi8(cur, prev, 14);
    __m128i prev3 = _mm_alignr_epi8(cur, prev, 13);
    __m128i hi1 = _mm_shuffle_epi8(t->t_prev_high, _mm_and_si128(_mm_srli_epi16(prev1, 4), t->nibble));
    __m128i lo1 = _mm_shuffle_epi8(t->t_prev_low, _mm_and_si128(prev1, t->nibble));
    __m128i hi2 = _mm_shuffle_epi8(t->t_cur_high, _mm_and_si128(_mm_srli_epi16(cur, 4), t->nibble));
    __m128i special = _mm_and_si128(_mm_and_si128(hi1, lo1), hi2);
    /* 0x80 where a 3/4-byte lead two/three bytes back needs this continuation */
    __m128i must23 = _mm_or_si128(_mm_subs_epu8(prev2, t->third), _mm_subs_epu8(prev3, t->fourth));
    return _mm_xor_si128(_mm_and_si128(must23, t->high_bit), special);
}

WSF_TARGET_SSSE3
int wsf_utf8_ssse3(const unsigned char *s, size_t n) {
    tables t;
    __m128i err = _mm_setzero_si128(), prev = err, prev_incomplete = err, a, b, c, d;
    __m128i inc_max = _mm_loadu_si128((const __m128i *)incomplete_max);
    size_t i = 0;
    int was_ascii = 0;
    if (n < 16) return wsf_utf8_scalar(s, n);
    t.t_prev_high = _mm_loadu_si128((const __m128i *)prev_high);
    t.t_prev_low = _mm_loadu_si128((const __m128i *)prev_low);
    t.t_cur_high = _mm_loadu_si128((const __m128i *)cur_high);
    t.nibble = _mm_set1_epi8(0x0F);
    t.third = _mm_set1_epi8((char)(0xE0 - 0x80));
    t.fourth = _mm_set1_epi8((char)(0xF0 - 0x80));
    t.high_bit = _mm_set1_epi8((char)0x80);
    for (;;) {
        if (i + 64 <= n) {
            a = _mm_loadu_si128((const __m128i *)(s + i));
            b = _mm_loadu_si128((const __m128i *)(s + i + 16));
            c = _mm_loadu_si128((const __m128i *)(s + i + 32));
            d = _mm_loadu_si128((const __m128i *)(s + i + 48));
        } else if (i < n) {     /* the last partial block, zero-padded */
            unsigned char tail[64];
            memset(tail, 0, sizeof tail);
            memcpy(tail, s + i, n - i);
            a = _mm_loadu_si128((const __m128i *)tail);
            b = _mm_loadu_si128((const __m128i *)(tail + 16));
            c = _mm_loadu_si128((const __m128i *)(tail + 32));
            d = _mm_loadu_si128((const __m128i *)(tail + 48));
        } else {
            break;
        }
        i += 64;
        if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))) == 0) {
            /* only the first of a run of ASCII blocks touches err: with 16
             * registers err lives on the stack, and a load-OR-store per block
             * would make the ASCII run wait on store forwarding */
            if (!was_ascii) err = _mm_or_si128(err, prev_incomplete);
            was_ascii = 1;
        } else {
            was_ascii = 0;
            err = _mm_or_si128(err, check(&t, a, prev));
            err = _mm_or_si128(err, check(&t, b, a));
            err = _mm_or_si128(err, check(&t, c, b));
            err = _mm_or_si128(err, check(&t, d, c));
            prev_incomplete = _mm_subs_epu8(d, inc_max);
        }
        prev = d;
    }
    if (!was_ascii) err = _mm_or_si128(err, prev_incomplete);
    return _mm_movemask_epi8(_mm_cmpeq_epi8(err, _mm_setzero_si128())) == 0xFFFF;
}
#else
int wsf_utf8_sse2(const unsigned char *s, size_t n) { return wsf_utf8_scalar(s, n); }
int wsf_utf8_ssse3(const unsigned char *s, size_t n) { return wsf_utf8_scalar(s, n); }
#endif
