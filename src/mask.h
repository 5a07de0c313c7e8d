/* WebSocket masking (RFC 6455 section 5.3): XOR with a 4-byte key. */
#ifndef WSF_MASK_H
#define WSF_MASK_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One kernel: dst[i] = src[i] ^ key[(phase + i) % 4] for i < n.
 * dst may equal src (in place); other overlaps are not allowed.
 * phase is in 0..3. Never touches a byte outside [0, n). */
typedef void (*wsf_mask_fn)(unsigned char *dst, const unsigned char *src,
                            size_t n, const unsigned char key[4], size_t phase);

void wsf_mask_scalar(unsigned char *, const unsigned char *, size_t, const unsigned char *, size_t);
void wsf_mask_sse2(unsigned char *, const unsigned char *, size_t, const unsigned char *, size_t);
void wsf_mask_avx2(unsigned char *, const unsigned char *, size_t, const unsigned char *, size_t);
void wsf_mask_avx512(unsigned char *, const unsigned char *, size_t, const unsigned char *, size_t);
void wsf_mask_neon(unsigned char *, const unsigned char *, size_t, const unsigned char *, size_t);

/* The best kernel for this CPU (chosen once); payloads up to WSF_MASK_SHORT
 * bytes are masked inline with wsf_mask_short instead (no dispatch). */
void wsf_mask(unsigned char *dst, const unsigned char *src, size_t n,
              const unsigned char key[4], size_t phase);
#define WSF_MASK_SHORT 32

/* Out-of-place runs at least this long are written with non-temporal
 * stores: once source and result no longer fit in the last-level cache,
 * skipping the read-for-ownership of every result line is faster (measured
 * on a 32 MiB-L3 Zen 4: even at 10 MiB, 1.9x faster at 16 MiB; in place it
 * never pays, the lines were just read into the cache). */
#define WSF_MASK_STREAM_FROM ((size_t)10 << 20)

/* Kernels by index, for tests and benchmarks: names "scalar", "sse2",
 * "avx2", "avx512", "neon". Returns NULL when index is out of range or the
 * kernel cannot run on this CPU. */
wsf_mask_fn wsf_mask_kernel(int index, const char **name);
const char *wsf_mask_best_name(void);
/* The kernel wsf_mask dispatches to for payloads longer than WSF_MASK_SHORT. */
wsf_mask_fn wsf_mask_best(void);

/* The key rotated so that byte 0 of the result masks the next payload byte,
 * as a value (key[phase] in bits 0-7): SIMD registers are filled from it. */
static inline unsigned wsf_mask_rotated32(const unsigned char key[4], size_t phase) {
    unsigned char k[4];
    k[0] = key[phase & 3]; k[1] = key[(phase + 1) & 3];
    k[2] = key[(phase + 2) & 3]; k[3] = key[(phase + 3) & 3];
    return (unsigned)k[0] | ((unsigned)k[1] << 8) | ((unsigned)k[2] << 16) | ((unsigned)k[3] << 24);
}

/* The same rotation for a word used in memory order: storing the result
 * writes key[phase], key[phase + 1], ... on either byte order. One load and
 * one rotate, so no byte-by-byte key building in the short path. */
static inline uint32_t wsf_mask_word32(const unsigned char key[4], size_t phase) {
    uint32_t k;
    unsigned s = (unsigned)(phase & 3) * 8;
    memcpy(&k, key, 4);
    if (s == 0) return k;
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (k << s) | (k >> (32 - s));
#else
    return (k >> s) | (k << (32 - s));
#endif
}

/* Short payloads, inlined into the caller: 8 bytes per step through a 64-bit
 * word, then 4, then single bytes. word32 comes from wsf_mask_word32. Works
 * for any n; the SIMD kernels use it for their tails. */
static inline void wsf_mask_short(unsigned char *dst, const unsigned char *src, size_t n,
                                  uint32_t word32) {
    uint64_t k64 = ((uint64_t)word32 << 32) | word32, w;
    uint32_t v;
    unsigned char k[4];
    size_t i;
    for (; n >= 8; n -= 8, src += 8, dst += 8) {
        memcpy(&w, src, 8);
        w ^= k64;
        memcpy(dst, &w, 8);
    }
    if (n >= 4) {
        memcpy(&v, src, 4);
        v ^= word32;
        memcpy(dst, &v, 4);
        src += 4; dst += 4; n -= 4;
    }
    memcpy(k, &word32, 4);  /* the last 0-3 bytes, phase unchanged since whole words were done */
    for (i = 0; i < n; i++) dst[i] = src[i] ^ k[i];
}
#endif
