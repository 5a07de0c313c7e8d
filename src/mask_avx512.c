/* AVX-512BW masking: 256 bytes per iteration and a masked (fault-free) tail,
 * so short frames take one or two instructions and no byte-by-byte loop;
 * very long out-of-place runs stream past the cache (WSF_MASK_STREAM_FROM). */
#include "wsf_cpu.h"
#include "mask.h"
#if defined(WSF_X86_64)
#include <immintrin.h>

/* Below this, aligning dst costs as much as the misaligned stores it saves
 * (measured on Zen 4: no gain at 1-2 KiB, 1.6x at 16 KiB). */
#define ALIGN_FROM 2048

WSF_TARGET_AVX512
void wsf_mask_avx512(unsigned char *dst, const unsigned char *src, size_t n,
                     const unsigned char *key, size_t phase) {
    __m512i k;
    size_t i = 0;
    if (n >= ALIGN_FROM) {  /* align dst to a cache line */
        size_t head = (64 - ((uintptr_t)dst & 63)) & 63;
        if (head) {
            __mmask64 m = (1ULL << head) - 1;
            __m512i k0 = _mm512_set1_epi32((int)wsf_mask_word32(key, phase));
            __m512i a = _mm512_maskz_loadu_epi8(m, src);
            _mm512_mask_storeu_epi8(dst, m, _mm512_xor_si512(a, k0));
            dst += head; src += head; n -= head; phase = (phase + head) & 3;
        }
    }
    k = _mm512_set1_epi32((int)wsf_mask_word32(key, phase));
    if (n >= WSF_MASK_STREAM_FROM && dst != src) {  /* dst is 64-byte aligned here */
        for (; i + 256 <= n; i += 256) {
            __m512i a = _mm512_loadu_si512((const void *)(src + i));
            __m512i b = _mm512_loadu_si512((const void *)(src + i + 64));
            __m512i c = _mm512_loadu_si512((const void *)(src + i + 128));
            __m512i d = _mm512_loadu_si512((const void *)(src + i + 192));
            _mm512_stream_si512((void *)(dst + i), _mm512_xor_si512(a, k));
            _mm512_stream_si512((void *)(dst + i + 64), _mm512_xor_si512(b, k));
            _mm512_stream_si512((void *)(dst + i + 128), _mm512_xor_si512(c, k));
            _mm512_stream_si512((void *)(dst + i + 192), _mm512_xor_si512(d, k));
        }
        _mm_sfence();  /* order the streamed stores before anything that follows */
    }
    for (; i + 256 <= n; i += 256) {
        __m512i a = _mm512_loadu_si512((const void *)(src + i));
        __m512i b = _mm512_loadu_si512((const void *)(src + i + 64));
        __m512i c = _mm512_loadu_si512((const void *)(src + i + 128));
        __m512i d = _mm512_loadu_si512((const void *)(src + i + 192));
        _mm512_storeu_si512((void *)(dst + i), _mm512_xor_si512(a, k));
        _mm512_storeu_si512((void *)(dst + i + 64), _mm512_xor_si512(b, k));
        _mm512_storeu_si512((void *)(dst + i + 128), _mm512_xor_si512(c, k));
        _mm512_storeu_si512((void *)(dst + i + 192), _mm512_xor_si512(d, k));
    }
    for (; i + 64 <= n; i += 64) {
        __m512i a = _mm512_loadu_si512((const void *)(src + i));
        _mm512_storeu_si512((void *)(dst + i), _mm512_xor_si512(a, k));
    }
    if (i < n) {
        __mmask64 m = (1ULL << (n - i)) - 1;  /* n - i < 64 */
        __m512i a = _mm512_maskz_loadu_epi8(m, src + i);
        _mm512_mask_storeu_epi8(dst + i, m, _mm512_xor_si512(a, k));
    }
}
#else
void wsf_mask_avx512(unsigned char *dst, const unsigned char *src, size_t n,
                     const unsigned char *key, size_t phase) {
    wsf_mask_scalar(dst, src, n, key, phase);
}
#endif
