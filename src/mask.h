/* WebSocket masking (RFC 6455 section 5.3): XOR with a 4-byte key. */
#ifndef WSF_MASK_H
#define WSF_MASK_H
#include <stddef.h>

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

/* The best kernel for this CPU (chosen once). */
void wsf_mask(unsigned char *dst, const unsigned char *src, size_t n,
              const unsigned char key[4], size_t phase);

/* Kernels by index, for tests and benchmarks: names "scalar", "sse2",
 * "avx2", "avx512", "neon". Returns NULL when index is out of range or the
 * kernel cannot run on this CPU. */
wsf_mask_fn wsf_mask_kernel(int index, const char **name);
const char *wsf_mask_best_name(void);

/* The key rotated so that byte 0 of the result masks the next payload byte. */
static inline unsigned wsf_mask_rotated32(const unsigned char key[4], size_t phase) {
    unsigned char k[4];
    k[0] = key[phase & 3]; k[1] = key[(phase + 1) & 3];
    k[2] = key[(phase + 2) & 3]; k[3] = key[(phase + 3) & 3];
    return (unsigned)k[0] | ((unsigned)k[1] << 8) | ((unsigned)k[2] << 16) | ((unsigned)k[3] << 24);
}
#endif
