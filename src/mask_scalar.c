/* Portable masking: 8 bytes at a time through a 64-bit word (see wsf_mask_short). */
#include "mask.h"

void wsf_mask_scalar(unsigned char *dst, const unsigned char *src, size_t n,
                     const unsigned char *key, size_t phase) {
    wsf_mask_short(dst, src, n, wsf_mask_word32(key, phase));
}
