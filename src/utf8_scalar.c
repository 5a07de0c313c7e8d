/* Portable UTF-8 validation: a shift-based DFA with an ASCII skip.
 *
 * Well-formed sequences (Unicode Table 3-7), which is exactly what Python's
 * strict codec accepts:
 *   00..7F
 *   C2..DF  80..BF
 *   E0      A0..BF  80..BF
 *   E1..EC  80..BF  80..BF
 *   ED      80..9F  80..BF      (no surrogates)
 *   EE..EF  80..BF  80..BF
 *   F0      90..BF  80..BF  80..BF
 *   F1..F3  80..BF  80..BF  80..BF
 *   F4      80..8F  80..BF  80..BF  (nothing above U+10FFFF)
 *
 * The automaton has nine states, each a 6-bit field offset in a 64-bit row:
 * row[byte] holds, at the offset of every state, the offset of the state
 * that byte leads to, so one step is `state = row[byte] >> state` (low six
 * bits). The error state sits at offset 0 and every row has zeros there, so
 * it is absorbing and the check can wait until the end. Long buffers are cut
 * at a character boundary and the halves run interleaved: two independent
 * dependency chains keep the core busy while each waits on its shift.
 */
#include <stdint.h>
#include <string.h>
#include "utf8.h"

enum {
    S_ERROR = 0, S_ACCEPT = 6,
    S_1 = 12,          /* one continuation byte left */
    S_2 = 18,          /* two left */
    S_2_E0 = 24,       /* two left, the first A0..BF (no overlong) */
    S_2_ED = 30,       /* two left, the first 80..9F (no surrogate) */
    S_3 = 36,          /* three left */
    S_3_F0 = 42,       /* three left, the first 90..BF (no overlong) */
    S_3_F4 = 48        /* three left, the first 80..8F (<= U+10FFFF) */
};

#define IN(b, lo, hi) ((b) >= (lo) && (b) <= (hi))
#define MOVE(to, from) ((uint64_t)(to) << (from))
#define FROM_ACCEPT(b)                                                             \
    ((b) < 0x80 ? S_ACCEPT : (b) < 0xC2 ? S_ERROR : (b) < 0xE0 ? S_1 :             \
     (b) == 0xE0 ? S_2_E0 : (b) == 0xED ? S_2_ED : (b) < 0xF0 ? S_2 :              \
     (b) == 0xF0 ? S_3_F0 : (b) < 0xF4 ? S_3 : (b) == 0xF4 ? S_3_F4 : S_ERROR)
#define ROW(b)                                                                     \
    (MOVE(FROM_ACCEPT(b), S_ACCEPT) |                                              \
     (IN(b, 0x80, 0xBF) ? MOVE(S_ACCEPT, S_1) | MOVE(S_1, S_2) | MOVE(S_2, S_3) : 0) | \
     (IN(b, 0xA0, 0xBF) ? MOVE(S_1, S_2_E0) : 0) |                                 \
     (IN(b, 0x80, 0x9F) ? MOVE(S_1, S_2_ED) : 0) |                                 \
     (IN(b, 0x90, 0xBF) ? MOVE(S_2, S_3_F0) : 0) |                                 \
     (IN(b, 0x80, 0x8F) ? MOVE(S_2, S_3_F4) : 0))
#define ROW4(b) ROW(b), ROW((b) + 1), ROW((b) + 2), ROW((b) + 3)
#define ROW16(b) ROW4(b), ROW4((b) + 4), ROW4((b) + 8), ROW4((b) + 12)
#define ROW64(b) ROW16(b), ROW16((b) + 16), ROW16((b) + 32), ROW16((b) + 48)

static const uint64_t rows[256] = {ROW64(0), ROW64(64), ROW64(128), ROW64(192)};

#define WSF_HIGH_BITS 0x8080808080808080ULL

static inline uint64_t step(uint64_t st, unsigned char c) { return rows[c] >> (st & 63); }

static inline int ascii16(const unsigned char *p) {
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    return ((a | b) & WSF_HIGH_BITS) == 0;
}

/* 16 bytes through the automaton (skipped when ASCII between characters) */
static inline uint64_t block16(uint64_t st, const unsigned char *p) {
    int k;
    if ((st & 63) == S_ACCEPT && ascii16(p)) return st;
    for (k = 0; k < 16; k++) st = step(st, p[k]);
    return st;
}

static inline uint64_t run(uint64_t st, const unsigned char *p, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) st = block16(st, p + i);
    for (; i < n; i++) st = step(st, p[i]);
    return st;
}

int wsf_utf8_scalar(const unsigned char *s, size_t n) {
    uint64_t a = S_ACCEPT, b = S_ACCEPT;
    size_t mid, i, m;
    const unsigned char *q;
    if (n < 256) return (run(a, s, n) & 63) == S_ACCEPT;
    /* split where a character starts: s[mid] is not a continuation byte (if
     * four in a row are, the text is invalid and the second half says so) */
    mid = n / 2;
    for (i = 0; i < 3 && (s[mid] & 0xC0) == 0x80; i++) mid--;
    q = s + mid;
    m = mid < n - mid ? mid : n - mid;
    m &= ~(size_t)15;
    for (i = 0; i < m; i += 16) {
        a = block16(a, s + i);
        b = block16(b, q + i);
    }
    a = run(a, s + m, mid - m);
    b = run(b, q + m, n - mid - m);
    return (a & 63) == S_ACCEPT && (b & 63) == S_ACCEPT;
}
