/* NEON masking (arm64): 64 bytes per iteration, 16-byte steps, scalar tail. */
#include "wsf_cpu.h"
#include "mask.h"
#if defined(WSF_ARM64)
#include <arm_neon.h>

void wsf_mask_neon(unsigned char *dst, const unsigned char *src, size_t n,
                   const unsigned char *key, size_t phase) {
    uint8x16_t k = vreinterpretq_u8_u32(vdupq_n_u32(wsf_mask_rotated32(key, phase)));
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint8x16_t a = vld1q_u8(src + i), b = vld1q_u8(src + i + 16);
        uint8x16_t c = vld1q_u8(src + i + 32), d = vld1q_u8(src + i + 48);
        vst1q_u8(dst + i, veorq_u8(a, k));
        vst1q_u8(dst + i + 16, veorq_u8(b, k));
        vst1q_u8(dst + i + 32, veorq_u8(c, k));
        vst1q_u8(dst + i + 48, veorq_u8(d, k));
    }
    for (; i + 16 <= n; i += 16) vst1q_u8(dst + i, veorq_u8(vld1q_u8(src + i), k));
    wsf_mask_short(dst + i, src + i, n - i, wsf_mask_word32(key, phase));
}
#else
void wsf_mask_neon(unsigned char *dst, const unsigned char *src, size_t n,
                   const unsigned char *key, size_t phase) {
    wsf_mask_scalar(dst, src, n, key, phase);
}
#endif
