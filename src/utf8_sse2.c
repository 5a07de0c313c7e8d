/* SSE2 UTF-8 validation: a vectorised ASCII fast path (64, then 16 bytes per
 * step) around a scalar decoder for the multi-byte stretches. SSE2 has no
 * byte shuffle (pshufb is SSSE3), so the lookup algorithm of the AVX2 and
 * AVX-512 kernels is out of reach here; every x86-64 CPU with AVX2 uses those.
 */
#include "wsf_cpu.h"
#include "utf8.h"
#if defined(WSF_X86_64)
#include <emmintrin.h>
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
static inline unsigned first_bit(unsigned m) { unsigned long i; _BitScanForward(&i, m); return (unsigned)i; }
#else
static inline unsigned first_bit(unsigned m) { return (unsigned)__builtin_ctz(m); }
#endif

static inline int is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Length of the valid multi-byte sequence at s[0] (lead >= 0x80), 0 if invalid. */
static inline size_t sequence(const unsigned char *s, size_t avail) {
    unsigned char c = s[0], lo, hi;
    if (c < 0xC2) return 0;                   /* stray continuation, C0/C1 */
    if (c < 0xE0) return avail >= 2 && is_cont(s[1]) ? 2 : 0;
    if (c < 0xF0) {
        lo = c == 0xE0 ? 0xA0 : 0x80;         /* overlong */
        hi = c == 0xED ? 0x9F : 0xBF;         /* surrogates */
        return avail >= 3 && s[1] >= lo && s[1] <= hi && is_cont(s[2]) ? 3 : 0;
    }
    if (c < 0xF5) {
        lo = c == 0xF0 ? 0x90 : 0x80;         /* overlong */
        hi = c == 0xF4 ? 0x8F : 0xBF;         /* above U+10FFFF */
        return avail >= 4 && s[1] >= lo && s[1] <= hi && is_cont(s[2]) && is_cont(s[3]) ? 4 : 0;
    }
    return 0;
}

WSF_TARGET_SSE2
int wsf_utf8_sse2(const unsigned char *s, size_t n) {
    size_t i = 0, len;
    while (i < n) {
        if (s[i] >= 0x80) {
            if ((len = sequence(s + i, n - i)) == 0) return 0;
            i += len;
            continue;
        }
        /* an ASCII run: find where it ends */
        while (i + 64 <= n) {
            __m128i a = _mm_loadu_si128((const __m128i *)(s + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(s + i + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(s + i + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(s + i + 48));
            if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d)))) break;
            i += 64;
        }
        while (i + 16 <= n) {
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(s + i)));
            if (m) {
                i += first_bit(m);
                break;
            }
            i += 16;
        }
        if (i + 16 > n)
            while (i < n && s[i] < 0x80) i++;
    }
    return 1;
}
#else
int wsf_utf8_sse2(const unsigned char *s, size_t n) { return wsf_utf8_scalar(s, n); }
#endif
