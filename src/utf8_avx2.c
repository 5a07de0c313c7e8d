/* AVX2 UTF-8 validation: the lookup algorithm of Keiser & Lemire (2021).
 *
 * 64 bytes per iteration. An all-ASCII block only has to check that the
 * previous block did not end inside a sequence; any other block classifies
 * every byte pair with three nibble lookups (vpshufb), checks that 3- and
 * 4-byte leads get their 2nd/3rd continuation bytes, and remembers whether
 * it ends inside a sequence. The last partial block is copied into a
 * zero-padded buffer, so nothing outside [buf, buf+n) is read. A long input
 * goes on from the first 32-byte boundary after its first block, so that
 * every later load is aligned.
 */
#include <stdint.h>
#include <string.h>
#include "wsf_cpu.h"
#include "utf8.h"
#if defined(WSF_X86_64)
#include <immintrin.h>

static const unsigned char prev_high[16] = {WSF_UTF8_PREV_HIGH};
static const unsigned char prev_low[16] = {WSF_UTF8_PREV_LOW};
static const unsigned char cur_high[16] = {WSF_UTF8_CUR_HIGH};
/* a byte above these in the last three positions starts an unfinished sequence */
static const unsigned char incomplete_max[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xEF, 0xDF, 0xBF};

/* the 32 bytes ending N bytes before the end of `cur` (N = 1..3), across `prev` */
#define PREV_N(cur, prev, N) \
    _mm256_alignr_epi8((cur), _mm256_permute2x128_si256((prev), (cur), 0x21), 16 - (N))

typedef struct {
    __m256i t_prev_high, t_prev_low, t_cur_high, nibble, third, fourth, high_bit, inc_max;
} tables;

WSF_TARGET_AVX2
static inline __m256i check(const tables *t, __m256i cur, __m256i prev) {
    __m256i prev1 = PREV_N(cur, prev, 1);
    __m256i prev2 = PREV_N(cur, prev, 2);
    __m256i prev3 = PREV_N(cur, prev, 3);
    __m256i hi1 = _mm256_shuffle_epi8(t->t_prev_high, _mm256_and_si256(_mm256_srli_epi16(prev1, 4), t->nibble));
    __m256i lo1 = _mm256_shuffle_epi8(t->t_prev_low, _mm256_and_si256(prev1, t->nibble));
    __m256i hi2 = _mm256_shuffle_epi8(t->t_cur_high, _mm256_and_si256(_mm256_srli_epi16(cur, 4), t->nibble));
    __m256i special = _mm256_and_si256(_mm256_and_si256(hi1, lo1), hi2);
    /* 0x80 where a 3/4-byte lead two/three bytes back needs this continuation */
    __m256i must23 = _mm256_or_si256(_mm256_subs_epu8(prev2, t->third), _mm256_subs_epu8(prev3, t->fourth));
    return _mm256_xor_si256(_mm256_and_si256(must23, t->high_bit), special);
}

/* one 64-byte block: an all-ASCII block only checks that the previous one did not end inside a
 * sequence; any other is classified byte pair by byte pair */
WSF_TARGET_AVX2
static inline void block(const tables *t, __m256i a, __m256i b, __m256i *err, __m256i *prev,
                         __m256i *prev_incomplete) {
    if (_mm256_movemask_epi8(_mm256_or_si256(a, b)) == 0) {
        *err = _mm256_or_si256(*err, *prev_incomplete);
        *prev_incomplete = _mm256_setzero_si256();
    } else {
        *err = _mm256_or_si256(*err, check(t, a, *prev));
        *err = _mm256_or_si256(*err, check(t, b, a));
        *prev_incomplete = _mm256_subs_epu8(b, t->inc_max);
    }
    *prev = b;
}

WSF_TARGET_AVX2
int wsf_utf8_avx2(const unsigned char *s, size_t n) {
    tables t;
    __m256i err = _mm256_setzero_si256(), prev = err, prev_incomplete = err;
    size_t i = 0;
    if (n < 16) return wsf_utf8_scalar(s, n);   /* one cheap word check beats the setup */
    t.t_prev_high = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)prev_high));
    t.t_prev_low = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)prev_low));
    t.t_cur_high = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)cur_high));
    t.nibble = _mm256_set1_epi8(0x0F);
    t.third = _mm256_set1_epi8((char)(0xE0 - 0x80));
    t.fourth = _mm256_set1_epi8((char)(0xF0 - 0x80));
    t.high_bit = _mm256_set1_epi8((char)0x80);
    t.inc_max = _mm256_loadu_si256((const __m256i *)incomplete_max);
    if (n >= WSF_UTF8_ALIGN_MIN && ((uintptr_t)s & 31) != 0) {
        /* the first block where it is, then on from the 32-byte boundary inside it (the bytes
         * between are checked twice, which changes nothing): every later load is aligned */
        block(&t, _mm256_loadu_si256((const __m256i *)s), _mm256_loadu_si256((const __m256i *)(s + 32)),
              &err, &prev, &prev_incomplete);
        i = 64 - ((uintptr_t)s & 31);
        prev = _mm256_loadu_si256((const __m256i *)(s + i - 32));
        prev_incomplete = _mm256_subs_epu8(prev, t.inc_max);
    }
    for (; i + 64 <= n; i += 64)
        block(&t, _mm256_loadu_si256((const __m256i *)(s + i)), _mm256_loadu_si256((const __m256i *)(s + i + 32)),
              &err, &prev, &prev_incomplete);
    if (i < n) {     /* the last partial block, zero-padded */
        unsigned char tail[64];
        memset(tail, 0, sizeof tail);
        memcpy(tail, s + i, n - i);
        block(&t, _mm256_loadu_si256((const __m256i *)tail), _mm256_loadu_si256((const __m256i *)(tail + 32)),
              &err, &prev, &prev_incomplete);
    }
    err = _mm256_or_si256(err, prev_incomplete);
    return _mm256_testz_si256(err, err);
}
#else
int wsf_utf8_avx2(const unsigned char *s, size_t n) { return wsf_utf8_scalar(s, n); }
#endif
