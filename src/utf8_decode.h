/* UTF-8 -> code points of one width: what building a Python str from a text message needs.
 *
 * A str is stored with 1, 2 or 4 bytes per code point, the narrowest that
 * holds its largest one. So decoding is: scan (validate, count the code
 * points, find the largest byte, which tells the width), let the caller
 * allocate the string, then transcode straight into its storage. The
 * transcoders take input that the scan has validated and whose width it
 * chose, and write exactly `chars` code units (never past them).
 */
#ifndef WSF_UTF8_DECODE_H
#define WSF_UTF8_DECODE_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t chars;       /* code points */
    unsigned char max;  /* largest byte: < 0x80 ASCII, < 0xC4 Latin-1, < 0xF0 the BMP, else beyond */
} wsf_utf8_info;

/* Bytes per code point of the narrowest storage for text whose largest byte is `max`:
 * 1 up to C3 (leads C2/C3 encode U+0080..U+00FF), 2 up to EF (U+0100..U+FFFF), else 4. */
static inline int wsf_utf8_width(unsigned char max) {
    return max < 0xC4 ? 1 : max < 0xF0 ? 2 : 4;
}

typedef struct {
    const char *name;
    /* 1 if s[0:n] is complete, valid UTF-8, filling *info; 0 (info undefined) if not */
    int (*scan)(const unsigned char *s, size_t n, wsf_utf8_info *info);
    /* valid input of the matching width only; `chars` from the scan */
    void (*to_ucs1)(const unsigned char *s, size_t n, uint8_t *out, size_t chars);
    void (*to_ucs2)(const unsigned char *s, size_t n, uint16_t *out, size_t chars);
    void (*to_ucs4)(const unsigned char *s, size_t n, uint32_t *out, size_t chars);
} wsf_utf8_decoder;

/* The best decoder this CPU runs (chosen once; WSFAST_SIMD caps it), and the decoders by
 * index for tests and benchmarks ("scalar", "avx2"; NULL when out of range or unavailable). */
const wsf_utf8_decoder *wsf_utf8_decoder_best(void);
const wsf_utf8_decoder *wsf_utf8_decoder_kernel(int index);

/* The portable pieces (also the SIMD decoders' tails). */
int wsf_utf8_scan_scalar(const unsigned char *s, size_t n, wsf_utf8_info *info);
void wsf_utf8_to_ucs1_scalar(const unsigned char *s, size_t n, uint8_t *out, size_t chars);
void wsf_utf8_to_ucs2_scalar(const unsigned char *s, size_t n, uint16_t *out, size_t chars);
void wsf_utf8_to_ucs4_scalar(const unsigned char *s, size_t n, uint32_t *out, size_t chars);

/* The AVX2 decoder (x86-64; elsewhere these are the scalar ones); prepare() builds its tables. */
void wsf_utf8_decode_avx2_prepare(void);
int wsf_utf8_scan_avx2(const unsigned char *s, size_t n, wsf_utf8_info *info);
void wsf_utf8_to_ucs1_avx2(const unsigned char *s, size_t n, uint8_t *out, size_t chars);
void wsf_utf8_to_ucs2_avx2(const unsigned char *s, size_t n, uint16_t *out, size_t chars);
void wsf_utf8_to_ucs4_avx2(const unsigned char *s, size_t n, uint32_t *out, size_t chars);
#endif
