# Declarations of the C kernels in src/, shared by the Cython modules.

cdef extern from "wsf_cpu.h":
    unsigned wsf_cpu_features() nogil

cdef extern from "mask.h":
    ctypedef void (*wsf_mask_fn)(unsigned char *dst, const unsigned char *src, size_t n,
                                 const unsigned char *key, size_t phase) noexcept nogil
    void wsf_mask(unsigned char *dst, const unsigned char *src, size_t n,
                  const unsigned char *key, size_t phase) noexcept nogil
    wsf_mask_fn wsf_mask_kernel(int index, const char **name) noexcept nogil
    const char *wsf_mask_best_name() noexcept nogil
