/* cpu.c - CPU features, the BLAS's kernel set, and the re-execution advice (see cpu.h). */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cpu.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int hsi_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static void detect(hsi_cpu_info *c)
{
    unsigned a, b, cx, d, max;
    if (!__get_cpuid(0, &max, &b, &cx, &d)) return;
    memcpy(c->vendor, &b, 4), memcpy(c->vendor + 4, &d, 4), memcpy(c->vendor + 8, &cx, 4);
    c->vendor[12] = 0;
    __cpuid(1, a, b, cx, d);
    int fam = (a >> 8) & 0xf, mod = (a >> 4) & 0xf;
    if (fam == 0xf) fam += (a >> 20) & 0xff;
    if (fam == 6 || fam >= 0xf) mod |= ((a >> 16) & 0xf) << 4;
    c->family = fam, c->model_number = mod;
    unsigned f = 0;
    if (d & bit_SSE2) f |= HSI_CPU_SSE2;
    if (cx & bit_SSE3) f |= HSI_CPU_SSE3;
    if (cx & bit_SSE4_1) f |= HSI_CPU_SSE41;
    if (cx & bit_SSE4_2) f |= HSI_CPU_SSE42;
    /* AVX registers are usable only where the OS saves them: OSXSAVE, then
     * XCR0 bits 1-2 (XMM, YMM), 5-7 (opmask, ZMM) and 17-18 (AMX tiles). A
     * hypervisor or kernel may hide them though CPUID lists the feature. */
    unsigned long long xcr0 = (cx & bit_OSXSAVE) ? xgetbv0() : 0;
    int ymm = (xcr0 & 0x6) == 0x6, zmm = ymm && (xcr0 & 0xe0) == 0xe0,
        tiles = (xcr0 & 0x60000) == 0x60000;
    int has_fma = (cx & bit_FMA) != 0;
    if (ymm && (cx & bit_AVX)) f |= HSI_CPU_AVX;
    if ((f & HSI_CPU_AVX) && has_fma) f |= HSI_CPU_FMA;
    if (max >= 7) {
        __cpuid_count(7, 0, a, b, cx, d);
        unsigned sub1 = a;
        if ((f & HSI_CPU_AVX) && (b & bit_AVX2)) f |= HSI_CPU_AVX2;
        if (zmm) {
            if (b & bit_AVX512F) f |= HSI_CPU_AVX512F;
            if (b & bit_AVX512BW) f |= HSI_CPU_AVX512BW;
            if (b & bit_AVX512VL) f |= HSI_CPU_AVX512VL;
            if (b & bit_AVX512DQ) f |= HSI_CPU_AVX512DQ;
            if (b & bit_AVX512CD) f |= HSI_CPU_AVX512CD;
        }
        if (tiles && (d & (1u << 24))) f |= HSI_CPU_AMX_TILE;
        if (tiles && (d & (1u << 22))) f |= HSI_CPU_AMX_BF16;
        if (sub1 >= 1) {
            __cpuid_count(7, 1, a, b, cx, d);
            if (zmm && (a & (1u << 5))) f |= HSI_CPU_AVX512BF16;
        }
    }
    c->features = f;
    unsigned ext;
    __cpuid(0x80000000, ext, b, cx, d);
    if (ext >= 0x80000004) {
        unsigned *w = (unsigned *)c->model;
        for (unsigned leaf = 0; leaf < 3; leaf++)
            __cpuid(0x80000002 + leaf, w[4 * leaf], w[4 * leaf + 1], w[4 * leaf + 2], w[4 * leaf + 3]);
        c->model[48] = 0;
        /* Brand strings are padded with spaces at either end. */
        char *s = c->model;
        while (*s == ' ') s++;
        memmove(c->model, s, strlen(s) + 1);
        for (size_t n = strlen(c->model); n > 0 && c->model[n - 1] == ' '; n--) c->model[n - 1] = 0;
    }
}
#else
static void detect(hsi_cpu_info *c)
{
    (void)c;
}
#endif

/* Levels of kernel sets: 0 SSE, 1 AVX, 2 AVX2 + FMA, 3 AVX-512 (F, BW, VL,
 * DQ, CD: what OpenBLAS's SkylakeX kernels use), 4 AVX-512 with BF16. */
#define ALL512 (HSI_CPU_AVX512F | HSI_CPU_AVX512BW | HSI_CPU_AVX512VL | HSI_CPU_AVX512DQ | HSI_CPU_AVX512CD)

static int cpu_level(const hsi_cpu_info *c)
{
    unsigned f = c->features;
    if ((f & ALL512) == ALL512) return (f & HSI_CPU_AVX512BF16) ? 4 : 3;
    if ((f & HSI_CPU_AVX2) && (f & HSI_CPU_FMA)) return 2;
    if (f & HSI_CPU_AVX) return 1;
    return 0;
}

static const char *level_names[] = {"sse2", "avx", "avx2", "avx512", "avx512-bf16"};
#define N_LEVELS ((int)(sizeof level_names / sizeof level_names[0]))

/* The features a CPU of level `level` has, at most (cpu_level's levels). */
static unsigned level_mask(int level)
{
    unsigned m = HSI_CPU_SSE2 | HSI_CPU_SSE3 | HSI_CPU_SSE41 | HSI_CPU_SSE42;
    if (level >= 1) m |= HSI_CPU_AVX;
    if (level >= 2) m |= HSI_CPU_AVX2 | HSI_CPU_FMA;
    if (level >= 3) m |= ALL512;
    if (level >= 4) m |= HSI_CPU_AVX512BF16 | HSI_CPU_AMX_TILE | HSI_CPU_AMX_BF16;
    return m;
}

/* HSI_CPU_ISA's level, or -1 when unset or not a level name. */
static int cap_level(void)
{
    const char *e = getenv("HSI_CPU_ISA");
    for (int i = 0; e && i < N_LEVELS; i++)
        if (!strcasecmp(e, level_names[i])) return i;
    return -1;
}

const hsi_cpu_info *hsi_cpu(void)
{
    static hsi_cpu_info c; /* every thread would compute the same value */
    static int done;
    if (!done) {
        hsi_cpu_info t = {.isa = "unknown"};
        detect(&t);
        if (t.features & HSI_CPU_SSE2) t.isa = level_names[cpu_level(&t)];
        int cap = cap_level();
        if (cap >= 0 && (t.features & HSI_CPU_SSE2) && cap < cpu_level(&t)) {
            t.isa_cpu = t.isa;
            snprintf(t.cap, sizeof t.cap, "%s", level_names[cap]);
            t.features &= level_mask(cap);
            t.isa = level_names[cpu_level(&t)];
        }
        c = t;
        done = 1;
    }
    return &c;
}

/* The kernel sets OpenBLAS 0.3.21's DYNAMIC_ARCH knows (its corename table,
 * the names OPENBLAS_CORETYPE accepts) and the level each needs. */
static const struct {
    const char *name;
    int level;
} cores[] = {
    {"Katmai", 0},      {"Coppermine", 0}, {"Northwood", 0},     {"Prescott", 0},
    {"Banias", 0},      {"Atom", 0},       {"Core2", 0},         {"Penryn", 0},
    {"Dunnington", 0},  {"Nehalem", 0},    {"Athlon", 0},        {"Opteron", 0},
    {"Opteron_SSE3", 0}, {"Barcelona", 0}, {"Nano", 0},          {"Bobcat", 0},
    {"Sandybridge", 1}, {"Bulldozer", 1},  {"Piledriver", 1},    {"Steamroller", 1},
    {"Haswell", 2},     {"Zen", 2},        {"Excavator", 2},     {"SkylakeX", 3},
    {"Cooperlake", 4},
    /* Newer OpenBLAS releases: never recommended here, but not overridden. */
    {"SapphireRapids", 5},
};

static int core_level(const char *name)
{
    if (!strcasecmp(name, "Unknown")) return -1;
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
        if (!strcasecmp(name, cores[i].name)) return cores[i].level;
    return 99; /* a name this code does not know: leave it alone */
}

/* The best OpenBLAS kernel set for this CPU: by features, not by model. */
static const char *best_core(const hsi_cpu_info *c, int openblas_minor)
{
    switch (cpu_level(c)) {
    case 4: return openblas_minor >= 10 ? "Cooperlake" : "SkylakeX"; /* Cooperlake: 0.3.10 */
    case 3: return "SkylakeX";
    case 2: /* Zen's kernels are Haswell's with AMD's cache sizes */
        return (!strcmp(c->vendor, "AuthenticAMD") || !strcmp(c->vendor, "HygonGenuine")) ? "Zen"
                                                                                          : "Haswell";
    case 1: return "Sandybridge";
    case 0: return "Prescott"; /* generic: only ever a target under HSI_CPU_ISA=sse2 */
    default: return NULL;
    }
}

/* Looked up at run time, so libhsi also runs on a BLAS swapped in under
 * OpenBLAS's name (BLIS through the libblas alternative) without failing. */
static void *sym(const char *name)
{
    return dlsym(RTLD_DEFAULT, name);
}

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

/* The kernel set the BLAS picked by itself. Test knob: HSI_TEST_BLAS_CORENAME
 * makes it look as if OpenBLAS had picked that set (while OPENBLAS_CORETYPE is
 * unset, as a BLAS that honours it would), or always with a trailing '!' (a
 * BLAS that ignores OPENBLAS_CORETYPE: the re-execution must stop at one). */
static void corename(char *buf, size_t len)
{
    char *(*get)(void) = (char *(*)(void))sym("openblas_get_corename");
    copy(buf, len, get ? get() : "");
    const char *knob = getenv("HSI_TEST_BLAS_CORENAME");
    if (knob && *knob) {
        size_t n = strlen(knob);
        int always = knob[n - 1] == '!';
        if (always || !getenv("OPENBLAS_CORETYPE"))
            snprintf(buf, len, "%.*s", (int)(n - always), knob);
    }
}

/* Whether the cblas_sgemm this process calls comes from BLIS: BLIS can be
 * preloaded over OpenBLAS (bench/blas_compare.sh), and then OpenBLAS is still
 * loaded, for LAPACKE, but no longer does the sgemms. */
static int sgemm_from_blis(void)
{
    Dl_info where;
    void *f = sym("cblas_sgemm");
    return f && sym("bli_info_get_version_str") && dladdr(f, &where) && where.dli_fname &&
           strstr(where.dli_fname, "blis");
}

void hsi_blas_describe(hsi_blas_info *info)
{
    memset(info, 0, sizeof *info);
    char *(*config)(void) = (char *(*)(void))sym("openblas_get_config");
    int (*threads)(void) = (int (*)(void))sym("openblas_get_num_threads");
    if (config && !sgemm_from_blis()) {
        copy(info->name, sizeof info->name, "OpenBLAS");
        copy(info->config, sizeof info->config, config());
        sscanf(info->config, "OpenBLAS %15s", info->version);
        corename(info->kernels, sizeof info->kernels);
        info->threads = threads ? threads() : 0;
    } else if (sym("bli_info_get_version_str")) {
        const char *(*ver)(void) = (const char *(*)(void))sym("bli_info_get_version_str");
        int (*bt)(void) = (int (*)(void))sym("bli_thread_get_num_threads");
        int (*arch)(void) = (int (*)(void))sym("bli_arch_query_id");
        const char *(*arch_name)(int) = (const char *(*)(int))sym("bli_arch_string");
        copy(info->name, sizeof info->name, "BLIS");
        copy(info->version, sizeof info->version, ver());
        /* BLIS chooses its kernels from CPUID features at run time. */
        copy(info->kernels, sizeof info->kernels, arch && arch_name ? arch_name(arch()) : "?");
        info->threads = bt ? bt() : 0;
        return;
    } else {
        copy(info->name, sizeof info->name, "unknown");
        return;
    }

    const char *env = getenv("OPENBLAS_CORETYPE"), *mark = getenv(HSI_BLAS_REEXEC_ENV);
    const char *gt = mark ? strchr(mark, '>') : NULL;
    if (env && *env) {
        info->choice = HSI_BLAS_CHOSEN_BY_USER;
        /* Ours only if it is still the value hsi set. */
        if (gt && !strcasecmp(gt + 1, env)) {
            info->choice = HSI_BLAS_CHOSEN_BY_HSI;
            snprintf(info->picked, sizeof info->picked, "%.*s", (int)(gt - mark), mark);
        }
    }
    int minor = 99; /* a release after 0.3 knows every name here */
    if (!strncmp(info->version, "0.3.", 4)) sscanf(info->version + 4, "%d", &minor);
    else if (!strncmp(info->version, "0.", 2)) minor = 0;
    const hsi_cpu_info *c = hsi_cpu();
    const char *best = best_core(c, minor);
    const int have = core_level(info->kernels);
    if (best && have < core_level(best)) copy(info->best, sizeof info->best, best);
    /* Under HSI_CPU_ISA, kernels above the cap are fixed the same way. */
    else if (best && c->cap[0] && have != 99 && have > cpu_level(c)) {
        copy(info->best, sizeof info->best, best);
        info->above_cap = 1;
    }
}

static char marker[80];

const char *hsi_blas_reexec_coretype(void)
{
    const char *env = getenv("OPENBLAS_CORETYPE");
    if ((env && *env) || getenv(HSI_BLAS_REEXEC_ENV)) return NULL;
    hsi_blas_info b;
    hsi_blas_describe(&b);
    if (strcmp(b.name, "OpenBLAS") || !b.best[0]) return NULL;
    static char best[32];
    copy(best, sizeof best, b.best);
    snprintf(marker, sizeof marker, "%s>%s", b.kernels, best);
    return best;
}

const char *hsi_blas_reexec_marker(void)
{
    return marker;
}

static void isa_details(const hsi_cpu_info *c, char *buf, size_t len)
{
    static const struct {
        unsigned bit;
        const char *name;
    } shown[] = {{HSI_CPU_AVX2, "avx2"},         {HSI_CPU_FMA, "fma"},
                 {HSI_CPU_AVX512F, "avx512f"},   {HSI_CPU_AVX512BW, "bw"},
                 {HSI_CPU_AVX512VL, "vl"},       {HSI_CPU_AVX512DQ, "dq"},
                 {HSI_CPU_AVX512BF16, "bf16"},   {HSI_CPU_AMX_TILE, "amx"}};
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof shown / sizeof shown[0] && at < len; i++)
        if (c->features & shown[i].bit)
            at += snprintf(buf + at, len - at, "%s%s", at ? "," : "", shown[i].name);
}

void hsi_cpu_blas_summary(char *buf, size_t len)
{
    const hsi_cpu_info *c = hsi_cpu();
    hsi_blas_info b;
    hsi_blas_describe(&b);
    char feats[96], how[160] = "";
    isa_details(c, feats, sizeof feats);
    switch (b.choice) {
    case HSI_BLAS_CHOSEN_BY_BLAS:
        snprintf(how, sizeof how, ", chosen by %s", b.name);
        break;
    case HSI_BLAS_CHOSEN_BY_USER:
        snprintf(how, sizeof how, ", set by the user (OPENBLAS_CORETYPE=%s)", getenv("OPENBLAS_CORETYPE"));
        break;
    case HSI_BLAS_CHOSEN_BY_HSI:
        snprintf(how, sizeof how, ", set by hsi (OPENBLAS_CORETYPE=%s, re-executed once; OpenBLAS picked %s)",
                 getenv("OPENBLAS_CORETYPE"), b.picked);
        break;
    }
    char warn[96] = "";
    if (b.best[0] && b.above_cap)
        snprintf(warn, sizeof warn, "; kernels above the HSI_CPU_ISA cap (capped: %s)", b.best);
    else if (b.best[0])
        snprintf(warn, sizeof warn, "; WARNING: older kernels than this CPU runs (best: %s)", b.best);
    char isa[96];
    const char *env = getenv("HSI_CPU_ISA");
    if (c->cap[0])
        snprintf(isa, sizeof isa, "%s (capped by HSI_CPU_ISA=%s; the CPU has %s)", c->isa, c->cap,
                 c->isa_cpu);
    else if (env && *env && cap_level() < 0)
        snprintf(isa, sizeof isa, "%s (HSI_CPU_ISA=%.16s ignored: not sse2, avx, avx2, avx512, "
                 "avx512-bf16)", c->isa, env);
    else snprintf(isa, sizeof isa, "%s", c->isa);
    char threads[24] = "";
    if (b.threads > 0) snprintf(threads, sizeof threads, ", %d thread%s", b.threads, b.threads > 1 ? "s" : "");
    snprintf(buf, len, "cpu %s (%s family %d model %d), isa %s [%s]; blas %s %s, kernels %s%s%s%s",
             c->model[0] ? c->model : "unknown", c->vendor[0] ? c->vendor : "?", c->family,
             c->model_number, isa, feats, b.name, b.version[0] ? b.version : "?",
             b.kernels[0] ? b.kernels : "?", how, threads, warn);
}
