/* NEON UTF-8 validation (arm64): the Keiser & Lemire lookup algorithm on
 * 16-byte vectors, 64 bytes per iteration (tbl does the nibble lookups, ext
 * the shifts across vectors). All-ASCII blocks only check that the previous
 * block did not end inside a sequence. The partial last block is copied into
 * a zero-padded buffer, so nothing outside [buf, buf+n) is read.
 */
#include <string.h>
#include "wsf_cpu.h"
#include "utf8.h"
#if defined(WSF_ARM64)
#include <arm_neon.h>

static const uint8_t prev_high[16] = {WSF_UTF8_PREV_HIGH};
static const uint8_t prev_low[16] = {WSF_UTF8_PREV_LOW};
static const uint8_t cur_high[16] = {WSF_UTF8_CUR_HIGH};
/* a byte above these in the last three positions starts an unfinished sequence */
static const uint8_t incomplete_max[16] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xEF, 0xDF, 0xBF};

typedef struct {
    uint8x16_t t_prev_high, t_prev_low, t_cur_high, nibble, third, fourth, high_bit;
} tables;

static inline uint8x16_t check(const tables *t, uint8x16_t cur, uint8x16_t prev) {
    /* the 16 bytes ending 1, 2, 3 bytes before the end of cur */
    uint8x16_t prev1 = vextq_u8(prev, cur, 15);
    uint8x16_t prev2 = vextq_u8(prev, cur, 14);
    uint8x16_t prev3 = vextq_u8(prev, cur, 13);
    uint8x16_t hi1 = vqtbl1q_u8(t->t_prev_high, vshrq_n_u8(prev1, 4));
    uint8x16_t lo1 = vqtbl1q_u8(t->t_prev_low, vandq_u8(prev1, t->nibble));
    uint8x16_t hi2 = vqtbl1q_u8(t->t_cur_high, vshrq_n_u8(cur, 4));
    uint8x16_t special = vandq_u8(vandq_u8(hi1, lo1), hi2);
    /* 0x80 where a 3/4-byte lead two/three bytes back needs this continuation */
    uint8x16_t must23 = vorrq_u8(vqsubq_u8(prev2, t->third), vqsubq_u8(prev3, t->fourth));
    return veorq_u8(vandq_u8(must23, t->high_bit), special);
}

int wsf_utf8_neon(const unsigned char *s, size_t n) {
    tables t;
    uint8x16_t zero = vdupq_n_u8(0), err = zero, prev = zero, prev_incomplete = zero;
    uint8x16_t inc_max = vld1q_u8(incomplete_max);
    uint8x16_t a, b, c, d;
    unsigned char tail[64];
    size_t i = 0;
    if (n < 16) return wsf_utf8_scalar(s, n);
    t.t_prev_high = vld1q_u8(prev_high);
    t.t_prev_low = vld1q_u8(prev_low);
    t.t_cur_high = vld1q_u8(cur_high);
    t.nibble = vdupq_n_u8(0x0F);
    t.third = vdupq_n_u8(0xE0 - 0x80);
    t.fourth = vdupq_n_u8(0xF0 - 0x80);
    t.high_bit = vdupq_n_u8(0x80);
    while (i < n) {
        const unsigned char *p = s + i;
        if (n - i < 64) {       /* the last partial block, zero-padded */
            memset(tail, 0, sizeof tail);
            memcpy(tail, s + i, n - i);
            p = tail;
        }
        a = vld1q_u8(p);
        b = vld1q_u8(p + 16);
        c = vld1q_u8(p + 32);
        d = vld1q_u8(p + 48);
        i += 64;
        if (vmaxvq_u8(vorrq_u8(vorrq_u8(a, b), vorrq_u8(c, d))) < 0x80) {
            err = vorrq_u8(err, prev_incomplete);
            prev_incomplete = zero;
        } else {
            err = vorrq_u8(err, check(&t, a, prev));
            err = vorrq_u8(err, check(&t, b, a));
            err = vorrq_u8(err, check(&t, c, b));
            err = vorrq_u8(err, check(&t, d, c));
            prev_incomplete = vqsubq_u8(d, inc_max);
        }
        prev = d;
    }
    err = vorrq_u8(err, prev_incomplete);
    return vmaxvq_u8(err) == 0;
}
#else
int wsf_utf8_neon(const unsigned char *s, size_t n) { return wsf_utf8_scalar(s, n); }
#endif
