/* AVX-512BW UTF-8 validation: the Keiser & Lemire lookup algorithm on 64-byte
 * vectors. All-ASCII stretches are skipped 128 bytes per step; the partial
 * last block is a masked (fault-free) load, so short strings take one load
 * and nothing outside [buf, buf+n) is read. A long input goes on from the
 * 64-byte boundary inside its second block, so that every later load is
 * aligned.
 */
#include <stdint.h>
#include "wsf_cpu.h"
#include "utf8.h"
#if defined(WSF_X86_64)
#include <immintrin.h>

static const unsigned char prev_high[16] = {WSF_UTF8_PREV_HIGH};
static const unsigned char prev_low[16] = {WSF_UTF8_PREV_LOW};
static const unsigned char cur_high[16] = {WSF_UTF8_CUR_HIGH};

/* the 64 bytes ending N bytes before the end of `cur` (N = 1..3), across `prev`:
 * valignq brings each 16-byte lane's predecessor next to it, then vpalignr */
#define PREV_N(cur, prev, N) \
    _mm512_alignr_epi8((cur), _mm512_alignr_epi64((cur), (prev), 6), 16 - (N))

typedef struct {
    __m512i t_prev_high, t_prev_low, t_cur_high, nibble, third, fourth, high_bit, inc_max;
} tables;

WSF_TARGET_AVX512
static inline __m512i check(const tables *t, __m512i cur, __m512i prev) {
    __m512i prev1 = PREV_N(cur, prev, 1);
    __m512i prev2 = PREV_N(cur, prev, 2);
    __m512i prev3 = PREV_N(cur, prev, 3);
    __m512i hi1 = _mm512_shuffle_epi8(t->t_prev_high, _mm512_and_si512(_mm512_srli_epi16(prev1, 4), t->nibble));
    __m512i lo1 = _mm512_shuffle_epi8(t->t_prev_low, _mm512_and_si512(prev1, t->nibble));
    __m512i hi2 = _mm512_shuffle_epi8(t->t_cur_high, _mm512_and_si512(_mm512_srli_epi16(cur, 4), t->nibble));
    __m512i must23 = _mm512_or_si512(_mm512_subs_epu8(prev2, t->third), _mm512_subs_epu8(prev3, t->fourth));
    /* (hi1 & lo1 & hi2) ^ (must23 & 0x80): one vpternlogd each */
    __m512i special = _mm512_ternarylogic_epi32(hi1, lo1, hi2, 0x80);
    return _mm512_ternarylogic_epi32(must23, t->high_bit, special, 0x6A);
}

WSF_TARGET_AVX512
int wsf_utf8_avx512(const unsigned char *s, size_t n) {
    tables t;
    __m512i err = _mm512_setzero_si512(), prev = err, prev_incomplete = err, a;
    size_t i = 0;
    if (n <= 64) {  /* short strings: one masked load, usually ASCII */
        __mmask64 m = n == 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
        a = _mm512_maskz_loadu_epi8(m, s);
        if (_mm512_movepi8_mask(a) == 0) return 1;
    }
    t.t_prev_high = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)prev_high));
    t.t_prev_low = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)prev_low));
    t.t_cur_high = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)cur_high));
    t.nibble = _mm512_set1_epi8(0x0F);
    t.third = _mm512_set1_epi8((char)(0xE0 - 0x80));
    t.fourth = _mm512_set1_epi8((char)(0xF0 - 0x80));
    t.high_bit = _mm512_set1_epi8((char)0x80);
    /* 0xFF everywhere but the last three bytes: EF, DF, BF */
    t.inc_max = _mm512_mask_blend_epi8((__mmask64)0xE000000000000000ULL, _mm512_set1_epi8((char)0xFF),
                                       _mm512_set_epi64((long long)0xBFDFEF0000000000ULL, 0, 0, 0, 0, 0, 0, 0));
    if (n >= WSF_UTF8_ALIGN_MIN && ((uintptr_t)s & 63) != 0) {
        /* the first two blocks where they are, then on from the 64-byte boundary inside the
         * second (the bytes between are checked twice, which changes nothing): every later load
         * is aligned */
        __m512i b = _mm512_loadu_si512((const void *)(s + 64));
        a = _mm512_loadu_si512((const void *)s);
        if (_mm512_movepi8_mask(_mm512_or_si512(a, b)) != 0)  /* else ASCII: nothing to check */
            err = _mm512_or_si512(check(&t, a, prev), check(&t, b, a));  /* prev: zeros, the start */
        i = 128 - ((uintptr_t)s & 63);
        prev = _mm512_loadu_si512((const void *)(s + i - 64));
        prev_incomplete = _mm512_subs_epu8(prev, t.inc_max);
    }
    for (;;) {
        if (i + 64 <= n) {
            a = _mm512_loadu_si512((const void *)(s + i));
            if (_mm512_movepi8_mask(a) == 0) {
                /* ASCII: a pending sequence cannot end here; skip ahead 128 bytes at a time */
                err = _mm512_or_si512(err, prev_incomplete);
                prev_incomplete = _mm512_setzero_si512();
                i += 64;
                while (i + 128 <= n) {
                    __m512i b = _mm512_loadu_si512((const void *)(s + i));
                    __m512i c = _mm512_loadu_si512((const void *)(s + i + 64));
                    if (_mm512_movepi8_mask(_mm512_or_si512(b, c)) != 0) break;
                    i += 128;
                }
                prev = _mm512_loadu_si512((const void *)(s + i - 64));
                continue;
            }
        } else if (i < n) {     /* the partial last block: masked, zero-filled */
            a = _mm512_maskz_loadu_epi8(((__mmask64)1 << (n - i)) - 1, s + i);
        } else {
            break;
        }
        i += 64;
        err = _mm512_or_si512(err, check(&t, a, prev));
        prev_incomplete = _mm512_subs_epu8(a, t.inc_max);
        prev = a;
    }
    err = _mm512_or_si512(err, prev_incomplete);
    return _mm512_test_epi8_mask(err, err) == 0;
}
#else
int wsf_utf8_avx512(const unsigned char *s, size_t n) { return wsf_utf8_scalar(s, n); }
#endif
