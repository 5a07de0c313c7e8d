/* Masking entry point: picks the best kernel for this CPU once. */
#include <stddef.h>
#include "wsf_cpu.h"
#include "mask.h"

static const wsf_kernel_entry kernels[] = {
    WSF_KERNEL("scalar", wsf_mask_scalar, 0),
#if defined(WSF_X86_64)
    WSF_KERNEL("sse2", wsf_mask_sse2, WSF_CPU_SSE2),
    WSF_KERNEL("avx2", wsf_mask_avx2, WSF_CPU_AVX2),
    WSF_KERNEL("avx512", wsf_mask_avx512, WSF_CPU_AVX512BW),
#endif
#if defined(WSF_ARM64)
    WSF_KERNEL("neon", wsf_mask_neon, WSF_CPU_NEON),
#endif
};

static wsf_dispatch dispatch = WSF_DISPATCH(kernels);

wsf_mask_fn wsf_mask_best(void) {
    return (wsf_mask_fn)wsf_dispatch_fn(&dispatch);
}

void wsf_mask(unsigned char *dst, const unsigned char *src, size_t n,
              const unsigned char key[4], size_t phase) {
    if (n <= WSF_MASK_SHORT)
        wsf_mask_short(dst, src, n, wsf_mask_word32(key, phase));
    else
        (dispatch.fn ? (wsf_mask_fn)dispatch.fn : wsf_mask_best())(dst, src, n, key, phase);
}

wsf_mask_fn wsf_mask_kernel(int index, const char **name) {
    return (wsf_mask_fn)wsf_dispatch_at(&dispatch, index, name);
}

const char *wsf_mask_best_name(void) {
    return wsf_dispatch_name(&dispatch);
}
