/* AVX2 UTF-8 -> code points (the input is valid: the scan checked it first).
 *
 * The scan skips an ASCII prefix, runs the best validator on the rest, then
 * counts continuation bytes (80..BF) and keeps the largest byte, 32 bytes per
 * step.
 *
 * The transcoders work on blocks of positions. For each position of a block,
 * the code point that would start there is computed from the bytes at that
 * position and the next one to three (unaligned loads, widened to the output
 * width), as if it were a 1-, 2-, 3- or 4-byte lead; the right candidate is
 * picked by the lead byte, and then the lanes of the positions that hold a
 * continuation byte are squeezed out ("left-packed" by a shuffle from a table
 * indexed by the 8-bit mask of the lanes to keep). So nothing is carried from
 * one block to the next: a block that starts on a continuation byte simply
 * keeps no lane for it. Runs of ASCII are widened and stored whole; runs of
 * 3-byte sequences (CJK) and 4-byte sequences (emoji) have their own step.
 * The loops stop while a full store still fits in `chars` code units and the
 * loads stay inside the input; the scalar transcoder does the rest.
 */
#include <string.h>
#include "wsf_cpu.h"
#include "utf8.h"
#include "utf8_decode.h"
#if defined(WSF_X86_64)
#include <immintrin.h>

/* left-pack controls for the 8-bit keep mask m: the kept lanes, in order, then nothing */
static unsigned char pack8_lo[256][16];   /* bytes 0..7 of a 16-byte vector (pshufb) */
static unsigned char pack8_hi[256][16];   /* bytes 8..15 */
static unsigned char pack16[256][16];     /* 16-bit lanes of a 16-byte vector (pshufb) */
static uint32_t pack32[256][8];           /* 32-bit lanes of a 32-byte vector (vpermd) */
static unsigned char kept[256];           /* lanes kept: the population count of m */
static volatile int tables_ready = 0;
static void build_tables(void);

/* The tables are built by wsf_utf8_decoder_kernel() (the extension's import, under the GIL):
 * the transcoders' own check is only a safety net. */
void wsf_utf8_decode_avx2_prepare(void) {
    if (!tables_ready) build_tables();
}

static void build_tables(void) {
    int m, i;
    for (m = 0; m < 256; m++) {
        int k = 0;
        memset(pack8_lo[m], 0x80, 16);
        memset(pack8_hi[m], 0x80, 16);
        memset(pack16[m], 0x80, 16);
        memset(pack32[m], 0, sizeof pack32[m]);
        for (i = 0; i < 8; i++) {
            if (!(m >> i & 1)) continue;
            pack8_lo[m][k] = (unsigned char)i;
            pack8_hi[m][k] = (unsigned char)(8 + i);
            pack16[m][2 * k] = (unsigned char)(2 * i);
            pack16[m][2 * k + 1] = (unsigned char)(2 * i + 1);
            pack32[m][k] = (uint32_t)i;
            k++;
        }
        kept[m] = (unsigned char)k;
    }
    tables_ready = 1;  /* benign race: every thread writes the same values */
}

/* Finish with the scalar transcoder from input position i (skipping the continuation bytes of
 * a sequence whose lead a block already decoded) and output position o. */
#define FINISH(scalar, s, n, i, out, o, chars)                     \
    do {                                                           \
        while ((i) < (n) && ((s)[i] & 0xC0) == 0x80) (i)++;        \
        scalar((s) + (i), (n) - (i), (out) + (o), (chars) - (o));  \
    } while (0)

WSF_TARGET_AVX2
int wsf_utf8_scan_avx2(const unsigned char *s, size_t n, wsf_utf8_info *info) {
    __m256i top = _mm256_setzero_si256(), sums = _mm256_setzero_si256();
    const __m256i below_lead = _mm256_set1_epi8(-64);  /* signed: 80..BF are < C0 = -64 */
    size_t i = 0, cont = 0;
    unsigned char max = 0, lanes[32];
    uint64_t parts[4];
    int k;
    if (n < 64) return wsf_utf8_scan_scalar(s, n, info);
    /* an ASCII prefix needs no validation and no counting (ASCII text: nothing else to do) */
    while (i + 32 <= n && !_mm256_movemask_epi8(_mm256_loadu_si256((const __m256i *)(s + i)))) i += 32;
    if (!wsf_utf8_validate(s + i, n - i)) return 0;
    while (i + 32 <= n) {
        /* byte counters: at most 255 steps before they are summed */
        size_t end = n - i > 32 * 255 ? i + 32 * 255 : n;
        __m256i counts = _mm256_setzero_si256();
        for (; i + 32 <= end; i += 32) {
            __m256i b = _mm256_loadu_si256((const __m256i *)(s + i));
            top = _mm256_max_epu8(top, b);
            counts = _mm256_sub_epi8(counts, _mm256_cmpgt_epi8(below_lead, b));
        }
        sums = _mm256_add_epi64(sums, _mm256_sad_epu8(counts, _mm256_setzero_si256()));
    }
    _mm256_storeu_si256((__m256i *)parts, sums);
    cont = (size_t)(parts[0] + parts[1] + parts[2] + parts[3]);
    _mm256_storeu_si256((__m256i *)lanes, top);
    for (k = 0; k < 32; k++)
        if (lanes[k] > max) max = lanes[k];
    for (; i < n; i++) {
        if ((s[i] & 0xC0) == 0x80) cont++;
        if (s[i] > max) max = s[i];
    }
    info->chars = n - cont;
    info->max = max;
    return 1;
}

WSF_TARGET_AVX2
void wsf_utf8_to_ucs1_avx2(const unsigned char *s, size_t n, uint8_t *out, size_t chars) {
    const __m128i below_lead = _mm_set1_epi8(-64), low2 = _mm_set1_epi8(0x03), low6 = _mm_set1_epi8(0x3F);
    size_t i = 0, o = 0;
    if (!tables_ready) build_tables();
    while (i + 33 <= n && o + 32 <= chars) {
        __m256i block = _mm256_loadu_si256((const __m256i *)(s + i));
        int half;
        if (!_mm256_movemask_epi8(block)) {  /* 32 ASCII bytes */
            _mm256_storeu_si256((__m256i *)(out + o), block);
            i += 32;
            o += 32;
            continue;
        }
        for (half = 0; half < 2; half++, i += 16) {
            __m128i b0 = _mm_loadu_si128((const __m128i *)(s + i));
            __m128i b1 = _mm_loadu_si128((const __m128i *)(s + i + 1));
            /* a C2/C3 lead: ((lead & 3) << 6) | (next & 0x3F); ASCII as it is */
            __m128i two = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(b0, low2), 6), _mm_and_si128(b1, low6));
            __m128i v = _mm_blendv_epi8(b0, two, b0);
            unsigned keep = ~(unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(below_lead, b0)) & 0xFFFF;
            _mm_storel_epi64((__m128i *)(out + o),
                             _mm_shuffle_epi8(v, _mm_loadu_si128((const __m128i *)pack8_lo[keep & 0xFF])));
            o += kept[keep & 0xFF];
            _mm_storel_epi64((__m128i *)(out + o),
                             _mm_shuffle_epi8(v, _mm_loadu_si128((const __m128i *)pack8_hi[keep >> 8])));
            o += kept[keep >> 8];
        }
    }
    FINISH(wsf_utf8_to_ucs1_scalar, s, n, i, out, o, chars);
}

/* 8 three-byte sequences from s (24 bytes) -> 8 UTF-16 code units */
WSF_TARGET_AVX2
static inline __m128i cjk8(const unsigned char *s) {
    const __m256i spread = _mm256_setr_epi8(
        0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1,
        0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
    __m256i x = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)s)),
        _mm_loadu_si128((const __m128i *)(s + 12)), 1);
    __m256i v;
    x = _mm256_shuffle_epi8(x, spread);  /* each 32-bit lane: lead, second, third, 0 */
    v = _mm256_or_si256(
        _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x0F)), 12),
                        _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(x, 8), _mm256_set1_epi32(0x3F)), 6)),
        _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x3F)));
    v = _mm256_packus_epi32(v, v);  /* per 128-bit lane: 4 units, twice */
    return _mm256_castsi256_si128(_mm256_permute4x64_epi64(v, 0x08));
}

WSF_TARGET_AVX2
void wsf_utf8_to_ucs2_avx2(const unsigned char *s, size_t n, uint16_t *out, size_t chars) {
    const __m128i below_lead = _mm_set1_epi8(-64);
    const __m256i low5 = _mm256_set1_epi16(0x1F), low6 = _mm256_set1_epi16(0x3F);
    const __m256i ascii_end = _mm256_set1_epi16(0x80), two_end = _mm256_set1_epi16(0xDF);
    size_t i = 0, o = 0;
    if (!tables_ready) build_tables();
    while (i + 32 <= n && o + 16 <= chars) {
        __m128i b0 = _mm_loadu_si128((const __m128i *)(s + i));
        unsigned conts;
        __m256i w0, c1, c2, two, three, v;
        unsigned keep;
        if (!_mm_movemask_epi8(b0)) {  /* 16 ASCII bytes */
            _mm256_storeu_si256((__m256i *)(out + o), _mm256_cvtepu8_epi16(b0));
            i += 16;
            o += 16;
            continue;
        }
        conts = (unsigned)_mm256_movemask_epi8(
            _mm256_cmpgt_epi8(_mm256_set1_epi8(-64), _mm256_loadu_si256((const __m256i *)(s + i))));
        if ((conts & 0xFFFFFF) == 0xDB6DB6) {  /* 8 three-byte sequences in a row */
            _mm_storeu_si128((__m128i *)(out + o), cjk8(s + i));
            i += 24;
            o += 8;
            continue;
        }
        w0 = _mm256_cvtepu8_epi16(b0);
        c1 = _mm256_and_si256(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(s + i + 1))), low6);
        c2 = _mm256_and_si256(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(s + i + 2))), low6);
        two = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(w0, low5), 6), c1);
        three = _mm256_or_si256(_mm256_or_si256(_mm256_slli_epi16(w0, 12), _mm256_slli_epi16(c1, 6)), c2);
        v = _mm256_blendv_epi8(two, three, _mm256_cmpgt_epi16(w0, two_end));
        v = _mm256_blendv_epi8(v, w0, _mm256_cmpgt_epi16(ascii_end, w0));
        keep = ~(unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(below_lead, b0)) & 0xFFFF;
        _mm_storeu_si128((__m128i *)(out + o),
                         _mm_shuffle_epi8(_mm256_castsi256_si128(v),
                                          _mm_loadu_si128((const __m128i *)pack16[keep & 0xFF])));
        o += kept[keep & 0xFF];
        _mm_storeu_si128((__m128i *)(out + o),
                         _mm_shuffle_epi8(_mm256_extracti128_si256(v, 1),
                                          _mm_loadu_si128((const __m128i *)pack16[keep >> 8])));
        o += kept[keep >> 8];
        i += 16;
    }
    FINISH(wsf_utf8_to_ucs2_scalar, s, n, i, out, o, chars);
}

/* 8 four-byte sequences from s (32 bytes) -> 8 code points */
WSF_TARGET_AVX2
static inline __m256i astral8(const unsigned char *s) {
    const __m256i low6 = _mm256_set1_epi32(0x3F);
    __m256i x = _mm256_loadu_si256((const __m256i *)s);  /* each 32-bit lane: lead, 2nd, 3rd, 4th */
    return _mm256_or_si256(
        _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x07)), 18),
                        _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(x, 8), low6), 12)),
        _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(x, 16), low6), 6),
                        _mm256_and_si256(_mm256_srli_epi32(x, 24), low6)));
}

WSF_TARGET_AVX2
void wsf_utf8_to_ucs4_avx2(const unsigned char *s, size_t n, uint32_t *out, size_t chars) {
    const __m256i low5 = _mm256_set1_epi32(0x1F), low6 = _mm256_set1_epi32(0x3F);
    const __m256i below_lead = _mm256_set1_epi8(-64);
    size_t i = 0, o = 0;
    if (!tables_ready) build_tables();
    while (i + 32 <= n && o + 8 <= chars) {
        __m128i b0 = _mm_loadl_epi64((const __m128i *)(s + i));
        __m256i w0, c1, c2, c3, two, three, four, v;
        unsigned conts, keep;
        if (!(_mm_movemask_epi8(b0) & 0xFF)) {  /* 8 ASCII bytes */
            _mm256_storeu_si256((__m256i *)(out + o), _mm256_cvtepu8_epi32(b0));
            i += 8;
            o += 8;
            continue;
        }
        conts = (unsigned)_mm256_movemask_epi8(
            _mm256_cmpgt_epi8(below_lead, _mm256_loadu_si256((const __m256i *)(s + i))));
        if (conts == 0xEEEEEEEEu) {  /* 8 four-byte sequences in a row */
            _mm256_storeu_si256((__m256i *)(out + o), astral8(s + i));
            i += 32;
            o += 8;
            continue;
        }
        w0 = _mm256_cvtepu8_epi32(b0);
        c1 = _mm256_and_si256(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(s + i + 1))), low6);
        c2 = _mm256_and_si256(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(s + i + 2))), low6);
        c3 = _mm256_and_si256(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(s + i + 3))), low6);
        two = _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(w0, low5), 6), c1);
        three = _mm256_or_si256(_mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(w0, _mm256_set1_epi32(0x0F)), 12),
                                                _mm256_slli_epi32(c1, 6)), c2);
        four = _mm256_or_si256(
            _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(w0, _mm256_set1_epi32(0x07)), 18),
                            _mm256_slli_epi32(c1, 12)),
            _mm256_or_si256(_mm256_slli_epi32(c2, 6), c3));
        v = _mm256_blendv_epi8(three, four, _mm256_cmpgt_epi32(w0, _mm256_set1_epi32(0xEF)));
        v = _mm256_blendv_epi8(two, v, _mm256_cmpgt_epi32(w0, _mm256_set1_epi32(0xDF)));
        v = _mm256_blendv_epi8(v, w0, _mm256_cmpgt_epi32(_mm256_set1_epi32(0x80), w0));
        keep = ~conts & 0xFF;
        v = _mm256_permutevar8x32_epi32(v, _mm256_loadu_si256((const __m256i *)pack32[keep]));
        _mm256_storeu_si256((__m256i *)(out + o), v);
        o += kept[keep];
        i += 8;
    }
    FINISH(wsf_utf8_to_ucs4_scalar, s, n, i, out, o, chars);
}
#else
void wsf_utf8_decode_avx2_prepare(void) {}
int wsf_utf8_scan_avx2(const unsigned char *s, size_t n, wsf_utf8_info *info) {
    return wsf_utf8_scan_scalar(s, n, info);
}
void wsf_utf8_to_ucs1_avx2(const unsigned char *s, size_t n, uint8_t *out, size_t chars) {
    wsf_utf8_to_ucs1_scalar(s, n, out, chars);
}
void wsf_utf8_to_ucs2_avx2(const unsigned char *s, size_t n, uint16_t *out, size_t chars) {
    wsf_utf8_to_ucs2_scalar(s, n, out, chars);
}
void wsf_utf8_to_ucs4_avx2(const unsigned char *s, size_t n, uint32_t *out, size_t chars) {
    wsf_utf8_to_ucs4_scalar(s, n, out, chars);
}
#endif
