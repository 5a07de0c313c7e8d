/* Portable UTF-8 validation: a careful branchy decoder with an 8-byte ASCII skip.
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
 */
#include <stdint.h>
#include <string.h>
#include "utf8.h"

#define WSF_HIGH_BITS 0x8080808080808080ULL

static inline int is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

int wsf_utf8_scalar(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            uint64_t a, b;
            i++;
            /* ASCII runs: 16 bytes per step, then byte by byte to the next lead */
            while (i + 16 <= n) {
                memcpy(&a, s + i, 8);
                memcpy(&b, s + i + 8, 8);
                if ((a | b) & WSF_HIGH_BITS) break;
                i += 16;
            }
            continue;
        }
        if (c < 0xC2) return 0;               /* stray continuation, or C0/C1 (overlong) */
        if (c < 0xE0) {                       /* 2 bytes */
            if (n - i < 2 || !is_cont(s[i + 1])) return 0;
            i += 2;
        } else if (c < 0xF0) {                /* 3 bytes */
            unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
            if (n - i < 3 || s[i + 1] < lo || s[i + 1] > hi || !is_cont(s[i + 2])) return 0;
            i += 3;
        } else if (c < 0xF5) {                /* 4 bytes */
            unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
            if (n - i < 4 || s[i + 1] < lo || s[i + 1] > hi || !is_cont(s[i + 2]) || !is_cont(s[i + 3]))
                return 0;
            i += 4;
        } else {
            return 0;                         /* F5..FF never appear */
        }
    }
    return 1;
}
