/* UTF-8 validation (RFC 3629; what RFC 6455 requires of text frames and close reasons).
 *
 * Valid means what Python's strict "utf-8" codec accepts: no overlong forms,
 * no surrogates (U+D800-DFFF), nothing above U+10FFFF.
 */
#ifndef WSF_UTF8_H
#define WSF_UTF8_H
#include <stddef.h>

/* Whole-buffer check: 1 if buf[0:n] is complete, valid UTF-8, else 0. */
int wsf_utf8_validate(const unsigned char *buf, size_t n);

/* Incremental validation across chunks (text split over frames and reads).
 * The state is plain data: zero it (or call wsf_utf8_init) to start. */
typedef struct {
    unsigned int need;    /* continuation bytes still expected for the pending sequence (0-3) */
    unsigned char lo, hi; /* allowed range of the NEXT continuation byte */
    unsigned char failed; /* sticky: 1 once invalid */
} wsf_utf8_state;

void wsf_utf8_init(wsf_utf8_state *st);

/* Feed a chunk. Returns 1 while the bytes seen so far can still be the start
 * of valid UTF-8, 0 as soon as they cannot ("fail fast": a chunk that ends in
 * an impossible prefix such as "\xed\xa0" or "\xf4\x90" fails here, not later).
 * Once it has returned 0 it keeps returning 0 until re-initialised. */
int wsf_utf8_feed(wsf_utf8_state *st, const unsigned char *buf, size_t n);

/* 1 when everything fed is complete, valid UTF-8 (no truncated sequence). */
int wsf_utf8_finish(const wsf_utf8_state *st);

/* The kernels: whole-buffer checks, one per instruction set (same contract
 * as wsf_utf8_validate). A kernel for another architecture falls back to the
 * scalar one, so every name links everywhere. */
int wsf_utf8_scalar(const unsigned char *buf, size_t n);
int wsf_utf8_sse2(const unsigned char *buf, size_t n);
int wsf_utf8_avx2(const unsigned char *buf, size_t n);
int wsf_utf8_avx512(const unsigned char *buf, size_t n);
int wsf_utf8_neon(const unsigned char *buf, size_t n);

/* Kernels by index, for tests and benchmarks (names "scalar", "sse2",
 * "avx2", "avx512", "neon"); NULL when out of range or unavailable here. */
typedef int (*wsf_utf8_fn)(const unsigned char *buf, size_t n);
wsf_utf8_fn wsf_utf8_kernel(int index, const char **name);
const char *wsf_utf8_best_name(void);
#endif
