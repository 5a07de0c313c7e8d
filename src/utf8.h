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
int wsf_utf8_ssse3(const unsigned char *buf, size_t n);
int wsf_utf8_avx2(const unsigned char *buf, size_t n);
int wsf_utf8_avx512(const unsigned char *buf, size_t n);
int wsf_utf8_neon(const unsigned char *buf, size_t n);

/* Lookup tables of the SIMD kernels (Keiser & Lemire, "Validating UTF-8 In
 * Less Than One Instruction Per Byte", 2021). Each byte pair (prev, cur) is
 * classified by three 16-entry lookups -- prev's high nibble, prev's low
 * nibble, cur's high nibble -- whose AND has a bit set per error the pair
 * shows. Bits: 0x01 too short (lead not followed by a continuation),
 * 0x02 too long (continuation after ASCII), 0x04 overlong 3-byte (E0 80..9F),
 * 0x08 too large (F4 90..BF, F5..FF), 0x10 surrogate (ED A0..BF),
 * 0x20 overlong 2-byte (C0/C1), 0x40 overlong 4-byte (F0 80..8F) or too large
 * (F5..FF 80..8F), 0x80 two continuations in a row -- an error unless a 3- or
 * 4-byte lead two or three bytes back asks for it. */
#define WSF_UTF8_PREV_HIGH                                  \
    0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,         \
    0x80, 0x80, 0x80, 0x80, 0x21, 0x01, 0x15, 0x49
#define WSF_UTF8_PREV_LOW                                   \
    0xE7, 0xA3, 0x83, 0x83, 0x8B, 0xCB, 0xCB, 0xCB,         \
    0xCB, 0xCB, 0xCB, 0xCB, 0xCB, 0xDB, 0xCB, 0xCB
#define WSF_UTF8_CUR_HIGH                                   \
    0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,         \
    0xE6, 0xAE, 0xBA, 0xBA, 0x01, 0x01, 0x01, 0x01

/* From this length on, the AVX2 and AVX-512 kernels go on from the first
 * vector-aligned address after their first block (checking the bytes in
 * between twice), so that every later load is aligned: on the AVX-512 VM
 * measured, 64 KiB of ASCII in cache took 1.3-1.5x as long from an address
 * that is not a multiple of 64 (each load then spans two cache lines), and
 * the payload of a large bytes object sits 32 bytes into a 16-byte aligned
 * block. Shorter inputs are not worth the extra block. */
#define WSF_UTF8_ALIGN_MIN 256

/* Kernels by index, for tests and benchmarks (names "scalar", "sse2",
 * "ssse3", "avx2", "avx512", "neon"); NULL when out of range or unavailable here. */
typedef int (*wsf_utf8_fn)(const unsigned char *buf, size_t n);
wsf_utf8_fn wsf_utf8_kernel(int index, const char **name);
const char *wsf_utf8_best_name(void);
#endif
