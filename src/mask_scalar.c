/* Portable masking: 8 bytes at a time through a 64-bit word. */
#include <stdint.h>
#include <string.h>
#include "mask.h"

void wsf_mask_scalar(unsigned char *dst, const unsigned char *src, size_t n,
                     const unsigned char *key, size_t phase) {
    unsigned char k[8];
    uint64_t k64, w;
    size_t i = 0, j;
    for (j = 0; j < 8; j++) k[j] = key[(phase + j) & 3];
    memcpy(&k64, k, 8);
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, src + i, 8);
        w ^= k64;
        memcpy(dst + i, &w, 8);
    }
    for (j = 0; i < n; i++, j++) dst[i] = src[i] ^ k[j];
}
