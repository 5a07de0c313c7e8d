/* AVX2 masking: 128 bytes per iteration; long buffers first align dst to 32,
 * very long out-of-place runs stream past the cache (WSF_MASK_STREAM_FROM). */
#include "wsf_cpu.h"
#include "mask.h"
#if defined(WSF_X86_64)
#include <immintrin.h>

WSF_TARGET_AVX2
void wsf_mask_avx2(unsigned char *dst, const unsigned char *src, size_t n,
                   const unsigned char *key, size_t phase) {
    uint32_t word;
    __m256i k;
    size_t i = 0;
    if (n >= 512) {  /* aligned stores pay off only on long runs */
        size_t head = (32 - ((uintptr_t)dst & 31)) & 31;
        wsf_mask_short(dst, src, head, wsf_mask_word32(key, phase));
        dst += head; src += head; n -= head; phase = (phase + head) & 3;
    }
    word = wsf_mask_word32(key, phase);
    k = _mm256_set1_epi32((int)word);
    if (n >= WSF_MASK_STREAM_FROM && dst != src) {  /* dst is 32-byte aligned here */
        for (; i + 128 <= n; i += 128) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
            __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 32));
            __m256i c = _mm256_loadu_si256((const __m256i *)(src + i + 64));
            __m256i d = _mm256_loadu_si256((const __m256i *)(src + i + 96));
            _mm256_stream_si256((__m256i *)(dst + i), _mm256_xor_si256(a, k));
            _mm256_stream_si256((__m256i *)(dst + i + 32), _mm256_xor_si256(b, k));
            _mm256_stream_si256((__m256i *)(dst + i + 64), _mm256_xor_si256(c, k));
            _mm256_stream_si256((__m256i *)(dst + i + 96), _mm256_xor_si256(d, k));
        }
        _mm_sfence();  /* order the streamed stores before anything that follows */
    }
    for (; i + 128 <= n; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(src + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(src + i + 96));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, k));
        _mm256_storeu_si256((__m256i *)(dst + i + 32), _mm256_xor_si256(b, k));
        _mm256_storeu_si256((__m256i *)(dst + i + 64), _mm256_xor_si256(c, k));
        _mm256_storeu_si256((__m256i *)(dst + i + 96), _mm256_xor_si256(d, k));
    }
    for (; i + 32 <= n; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, k));
    }
    if (i + 16 <= n) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, _mm256_castsi256_si128(k)));
        i += 16;
    }
    wsf_mask_short(dst + i, src + i, n - i, word);
}
#else
void wsf_mask_avx2(unsigned char *dst, const unsigned char *src, size_t n,
                   const unsigned char *key, size_t phase) {
    wsf_mask_scalar(dst, src, n, key, phase);
}
#endif
