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
static wsf_mask_fn best_fn = NULL;

static int pick(void) {
    unsigned have = wsf_cpu_features();
    int i, chosen = 0;
    for (i = 0; i < N_KERNELS; i++)
        if ((kernels[i].needs & have) == kernels[i].needs) chosen = i;
    return chosen;
}

wsf_mask_fn wsf_mask_best(void) {
    if (best_fn == NULL) {  /* benign race: every thread picks the same kernel */
        best = pick();
        best_fn = kernels[best].fn;
    }
    return best_fn;
}

void wsf_mask(unsigned char *dst, const unsigned char *src, size_t n,
              const unsigned char key[4], size_t phase) {
    if (n <= WSF_MASK_SHORT)
        wsf_mask_short(dst, src, n, wsf_mask_word32(key, phase));
    else
        (best_fn ? best_fn : wsf_mask_best())(dst, src, n, key, phase);
}

wsf_mask_fn wsf_mask_kernel(int index, const char **name) {
    unsigned have = wsf_cpu_features();
    if (index < 0 || index >= N_KERNELS) return NULL;
    if ((kernels[index].needs & have) != kernels[index].needs) return NULL;
    if (name) *name = kernels[index].name;
    return kernels[index].fn;
}

const char *wsf_mask_best_name(void) {
    wsf_mask_best();
    return kernels[best].name;
}
