/* Runtime CPU feature detection (cpuid + xgetbv on x86-64; NEON is baseline on arm64)
 * and the kernel choice every family shares. */
#include <stdlib.h>
#include <string.h>
#include "wsf_cpu.h"

#if defined(WSF_X86_64)
#  if defined(_MSC_VER)
#    include <intrin.h>
static void wsf_cpuid(int leaf, int sub, unsigned r[4]) {
    int out[4];
    __cpuidex(out, leaf, sub);
    r[0] = (unsigned)out[0]; r[1] = (unsigned)out[1];
    r[2] = (unsigned)out[2]; r[3] = (unsigned)out[3];
}
static unsigned long long wsf_xgetbv(void) { return _xgetbv(0); }
#  else
#    include <cpuid.h>
static void wsf_cpuid(int leaf, int sub, unsigned r[4]) {
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
static unsigned long long wsf_xgetbv(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#  endif

static unsigned detect(void) {
    unsigned r[4], max_leaf, features = WSF_CPU_SSE2; /* SSE2 is part of x86-64 */
    unsigned long long xcr0;
    wsf_cpuid(0, 0, r);
    max_leaf = r[0];
    if (max_leaf < 1) return features;
    wsf_cpuid(1, 0, r);
    if (r[2] & (1u << 9)) features |= WSF_CPU_SSSE3;
    if (!(r[2] & (1u << 27))) return features;     /* OSXSAVE */
    xcr0 = wsf_xgetbv();
    if ((xcr0 & 0x6) != 0x6) return features;      /* XMM and YMM state */
    if (max_leaf < 7) return features;
    wsf_cpuid(7, 0, r);
    if (r[1] & (1u << 5)) features |= WSF_CPU_AVX2;
    /* AVX-512 F + BW + VL, and the OS saves opmask/ZMM state */
    if ((features & WSF_CPU_AVX2) && (xcr0 & 0xe0) == 0xe0 &&
        (r[1] & (1u << 16)) && (r[1] & (1u << 30)) && (r[1] & (1u << 31)))
        features |= WSF_CPU_AVX512BW;
    return features;
}
#elif defined(WSF_ARM64)
static unsigned detect(void) { return WSF_CPU_NEON; }
#else
static unsigned detect(void) { return 0; }
#endif

static unsigned cap_from_env(unsigned features) {
    const char *cap = getenv("WSFAST_SIMD");
    if (cap == NULL || *cap == '\0') return features;
    if (strcmp(cap, "scalar") == 0) return 0;
    if (strcmp(cap, "sse2") == 0) return features & WSF_CPU_SSE2;
    if (strcmp(cap, "ssse3") == 0) return features & (WSF_CPU_SSE2 | WSF_CPU_SSSE3);
    if (strcmp(cap, "avx2") == 0) return features & (WSF_CPU_SSE2 | WSF_CPU_SSSE3 | WSF_CPU_AVX2);
    return features; /* "avx512", "neon" or anything else: no cap */
}

unsigned wsf_cpu_features(void) {
    static int ready = 0;
    static unsigned features = 0;
    if (!ready) {   /* benign race: every thread computes the same value */
        features = cap_from_env(detect());
        ready = 1;
    }
    return features;
}

wsf_any_fn wsf_dispatch_fn(wsf_dispatch *d) {
    if (d->fn == NULL) {
        unsigned have = wsf_cpu_features();
        int i, chosen = 0;
        for (i = 0; i < d->n; i++)
            if ((d->table[i].needs & have) == d->table[i].needs) chosen = i;
        d->best = chosen;
        d->fn = d->table[chosen].fn;
    }
    return d->fn;
}

const char *wsf_dispatch_name(wsf_dispatch *d) {
    wsf_dispatch_fn(d);
    return d->table[d->best].name;
}

wsf_any_fn wsf_dispatch_at(const wsf_dispatch *d, int index, const char **name) {
    unsigned have = wsf_cpu_features();
    if (index < 0 || index >= d->n) return NULL;
    if ((d->table[index].needs & have) != d->table[index].needs) return NULL;
    if (name) *name = d->table[index].name;
    return d->table[index].fn;
}
