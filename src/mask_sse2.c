/* SSE2 masking: 64 bytes per iteration, 16-byte steps, 64-bit word tail. */
#include "wsf_cpu.h"
#include "mask.h"
#if defined(WSF_X86_64)
#include <emmintrin.h>

WSF_TARGET_SSE2
void wsf_mask_sse2(unsigned char *dst, const unsigned char *src, size_t n,
                   const unsigned char *key, size_t phase) {
    uint32_t word = wsf_mask_word32(key, phase);
    __m128i k = _mm_set1_epi32((int)word);  /* x86 is little-endian: lanes hold the bytes in order */
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k));
        _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, k));
        _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, k));
        _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, k));
    }
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k));
    }
    /* i is a multiple of 4, so the key word is unchanged for the tail */
    wsf_mask_short(dst + i, src + i, n - i, word);
}
#else
void wsf_mask_sse2(unsigned char *dst, const unsigned char *src, size_t n,
                   const unsigned char *key, size_t phase) {
    wsf_mask_scalar(dst, src, n, key, phase);
}
#endif
