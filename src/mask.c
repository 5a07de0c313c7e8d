/* Masking entry point: picks the best kernel for this CPU once. */
#include <stddef.h>
#include "wsf_cpu.h"
#include "mask.h"

static const struct { const char *name; wsf_mask_fn fn; unsigned needs; } kernels[] = {
    {"scalar", wsf_mask_scalar, 0},
#if defined(WSF_X86_64)
    {"sse2", wsf_mask_sse2, WSF_CPU_SSE2},
    {"avx2", wsf_mask_avx2, WSF_CPU_AVX2},
    {"avx512", wsf_mask_avx512, WSF_CPU_AVX512BW},
#endif
#if defined(WSF_ARM64)
    {"neon", wsf_mask_neon, WSF_CPU_NEON},
#endif
};
#define N_KERNELS ((int)(sizeof(kernels) / sizeof(kernels[0])))

static int best = -1;

static int pick(void) {
    unsigned have = wsf_cpu_features();
    int i, chosen = 0;
    for (i = 0; i < N_KERNELS; i++)
        if ((kernels[i].needs & have) == kernels[i].needs) chosen = i;
    return chosen;
}

void wsf_mask(unsigned char *dst, const unsigned char *src, size_t n,
              const unsigned char key[4], size_t phase) {
    if (best < 0) best = pick();
    kernels[best].fn(dst, src, n, key, phase);
}

wsf_mask_fn wsf_mask_kernel(int index, const char **name) {
    unsigned have = wsf_cpu_features();
    if (index < 0 || index >= N_KERNELS) return NULL;
    if ((kernels[index].needs & have) != kernels[index].needs) return NULL;
    if (name) *name = kernels[index].name;
    return kernels[index].fn;
}

const char *wsf_mask_best_name(void) {
    if (best < 0) best = pick();
    return kernels[best].name;
}
