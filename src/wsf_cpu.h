/* CPU feature detection and per-function target attributes.
 *
 * Every SIMD kernel lives in its own file and is compiled with the project's
 * baseline flags; the instruction set is enabled per function with
 * WSF_TARGET_*(), so one build runs everywhere and picks the best kernel at
 * run time (wsf_cpu_features()).
 */
#ifndef WSF_CPU_H
#define WSF_CPU_H

#if defined(__x86_64__) || defined(_M_X64) || defined(_M_AMD64)
#  define WSF_X86_64 1
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#  define WSF_ARM64 1
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define WSF_TARGET(t) __attribute__((target(t)))
#else
#  define WSF_TARGET(t) /* MSVC: intrinsics need no flag */
#endif

#define WSF_TARGET_SSE2 WSF_TARGET("sse2")
#define WSF_TARGET_SSSE3 WSF_TARGET("ssse3")
#define WSF_TARGET_AVX2 WSF_TARGET("avx2")
#define WSF_TARGET_AVX512 WSF_TARGET("avx512f,avx512bw,avx512vl,avx2")

enum {
    WSF_CPU_SSE2 = 1 << 0,
    WSF_CPU_AVX2 = 1 << 1,
    WSF_CPU_AVX512BW = 1 << 2,
    WSF_CPU_NEON = 1 << 3,
    WSF_CPU_SSSE3 = 1 << 4
};

/* Bit set of WSF_CPU_* usable on this CPU and OS (cached after the first call).
 * WSFAST_SIMD in the environment ("scalar", "sse2", "ssse3", "avx2", "avx512", "neon")
 * caps the level, so tests and benchmarks can exercise every kernel. */
unsigned wsf_cpu_features(void);

/* Runtime dispatch, written once for every kernel family (mask, UTF-8).
 * A family lists its kernels in a table, portable first and then in order of
 * preference; each entry names the WSF_CPU_* bits it needs. The chosen
 * kernel is the last entry this CPU (and WSFAST_SIMD) allows. Function
 * pointers are stored as wsf_any_fn; a family casts back to its own type. */
typedef void (*wsf_any_fn)(void);
typedef struct {
    const char *name;
    wsf_any_fn fn;
    unsigned needs;
} wsf_kernel_entry;
#define WSF_KERNEL(name, fn, needs) {name, (wsf_any_fn)(fn), needs}

/* One family's table and its choice, made on first use (a benign race:
 * every thread makes the same choice). */
typedef struct {
    const wsf_kernel_entry *table;
    int n;
    int best;       /* index of the chosen kernel, -1 until chosen */
    wsf_any_fn fn;  /* table[best].fn once chosen; read it directly on hot paths */
} wsf_dispatch;
#define WSF_DISPATCH(table) {table, (int)(sizeof(table) / sizeof((table)[0])), -1, NULL}

/* The chosen kernel, and its name. */
wsf_any_fn wsf_dispatch_fn(wsf_dispatch *d);
const char *wsf_dispatch_name(wsf_dispatch *d);

/* Kernel `index` of the table (and its name in *name, if name is not NULL)
 * when index is in range and the kernel runs on this CPU; NULL otherwise.
 * For tests and benchmarks, which run every kernel. */
wsf_any_fn wsf_dispatch_at(const wsf_dispatch *d, int index, const char **name);

#endif
