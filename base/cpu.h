/* cpu.h - what this CPU runs, which kernels the BLAS chose, and whether to fix it.
 *
 * Why: OpenBLAS 0.3.21 built with DYNAMIC_ARCH picks its kernel set from the
 * CPU's vendor and model number, not from its feature bits, so on a CPU
 * newer than the library (an Emerald Rapids Xeon, family 6 model 207) it
 * falls back to the generic "Prescott" kernels: sgemm at 62 instead of 150
 * GFLOP/s, and the CNN at a third of its speed. The kernel set can only be
 * chosen by OPENBLAS_CORETYPE before the library initialises (its constructor
 * runs at load time), so the hsi command re-executes itself once with it
 * set: hsi_blas_reexec_coretype() says whether and with what.
 */
#ifndef HSI_CPU_H
#define HSI_CPU_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Feature bits: set only when the CPU has the feature and the OS saves its
 * registers (XGETBV), so code may use it. */
enum {
    HSI_CPU_SSE2 = 1u << 0,
    HSI_CPU_SSE3 = 1u << 1,
    HSI_CPU_SSE41 = 1u << 2,
    HSI_CPU_SSE42 = 1u << 3,
    HSI_CPU_AVX = 1u << 4,
    HSI_CPU_FMA = 1u << 5,
    HSI_CPU_AVX2 = 1u << 6,
    HSI_CPU_AVX512F = 1u << 7,
    HSI_CPU_AVX512BW = 1u << 8,
    HSI_CPU_AVX512VL = 1u << 9,
    HSI_CPU_AVX512DQ = 1u << 10,
    HSI_CPU_AVX512CD = 1u << 11,
    HSI_CPU_AVX512BF16 = 1u << 12,
    HSI_CPU_AMX_TILE = 1u << 13,
    HSI_CPU_AMX_BF16 = 1u << 14,
};

typedef struct {
    char vendor[13];  /* "GenuineIntel", "AuthenticAMD"; "" off x86 */
    char model[49];   /* brand string, e.g. "Intel(R) Xeon(R) Platinum 8581C" */
    int family, model_number; /* display family and model (CPUID leaf 1) */
    unsigned features; /* HSI_CPU_* */
    const char *isa;  /* the highest level: "avx512-bf16", "avx512", "avx2", "avx", "sse2", "unknown" */
    /* Set by HSI_CPU_ISA (below): the cap, and the level the CPU itself has;
     * features and isa above are then the capped ones. "" and NULL otherwise. */
    char cap[16];
    const char *isa_cpu;
} hsi_cpu_info;

/* This CPU, asked once (CPUID and XGETBV); the same pointer every call.
 *
 * HSI_CPU_ISA=sse2|avx|avx2|avx512|avx512-bf16 caps it: the features above
 * that level are cleared, so hsi's own kernels (AVX2 tap kernels, AVX-512
 * plane copies, bf16 GEMMs) run as on a CPU of that class, and where
 * OpenBLAS runs kernels above the cap, hsi re-executes itself with the
 * capped kernel set as it does for a fallback (an OPENBLAS_CORETYPE the
 * user set stands). For benches of an AVX2 machine on an AVX-512 one
 * (bench/cnn_bench.sh ISA=avx2); a level above the CPU's does not raise
 * it, and an unknown value is ignored (hsi_cpu_blas_summary says so). The
 * loader's choice of the target_clones functions (AVX2 or baseline) is not
 * affected: there is nothing above AVX2 among them. */
const hsi_cpu_info *hsi_cpu(void);

/* The threads an OpenMP parallel region started now would get
 * (omp_get_max_threads(): OMP_NUM_THREADS or the cores), 1 in a build
 * without OpenMP. For sizing per-thread buffers before the region. */
int hsi_max_threads(void);

/* How the BLAS's kernel set came to be. */
typedef enum {
    HSI_BLAS_CHOSEN_BY_BLAS = 0, /* the BLAS chose from the CPU by itself */
    HSI_BLAS_CHOSEN_BY_USER,     /* OPENBLAS_CORETYPE was set by the user or environment */
    HSI_BLAS_CHOSEN_BY_HSI,      /* hsi set OPENBLAS_CORETYPE and re-executed itself */
} hsi_blas_choice;

typedef struct {
    char name[16];     /* "OpenBLAS", "BLIS", or "unknown" */
    char version[16];  /* "0.3.21"; "" when unknown */
    char config[160];  /* openblas_get_config() */
    char kernels[32];  /* the kernel set in use: openblas_get_corename(), e.g. "Cooperlake" */
    int threads;       /* BLAS threads, 0 when unknown */
    hsi_blas_choice choice;
    char picked[32];   /* HSI_BLAS_CHOSEN_BY_HSI: the kernel set the BLAS picked by itself */
    /* The best kernel set this BLAS has for this CPU, or "" when the BLAS is
     * not OpenBLAS or already runs it (or better). */
    char best[32];
    int above_cap;     /* best is set because the kernels exceed HSI_CPU_ISA's cap */
} hsi_blas_info;

/* Fills *info for the BLAS linked into this process. Never fails. */
void hsi_blas_describe(hsi_blas_info *info);

/* The environment variable that marks a process hsi has re-executed with
 * OPENBLAS_CORETYPE set, "PICKED>SET" (the kernel set OpenBLAS picked by
 * itself and the one hsi set); its presence stops a second re-execution. */
#define HSI_BLAS_REEXEC_ENV "HSI_BLAS_REEXEC"

/* The kernel set to re-execute with, or NULL: NULL when the BLAS is not
 * OpenBLAS, already runs the best kernels it has for this CPU, or when
 * OPENBLAS_CORETYPE or HSI_BLAS_REEXEC is already set (the user's choice
 * stands; no loops). When not NULL, the caller sets OPENBLAS_CORETYPE to it
 * and HSI_BLAS_REEXEC to the value hsi_blas_reexec_marker() gives, then
 * execv()s itself: the library itself never re-executes. */
const char *hsi_blas_reexec_coretype(void);
/* "PICKED>SET" for HSI_BLAS_REEXEC_ENV, for the last non-NULL answer above. */
const char *hsi_blas_reexec_marker(void);

/* One line for --version and benches: CPU model, ISA, BLAS name, version,
 * kernel set and how it was chosen, threads. */
void hsi_cpu_blas_summary(char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
