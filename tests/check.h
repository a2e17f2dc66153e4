/* check.h - the assertions of hsi's C tests (automake's plain harness).
 *
 * A test program is a main() that calls CHECK* and ends with
 * `return check_finish();`: exit 0 when every check held, 1 otherwise.
 * check_skip("why") exits 77 (SKIP) for a test that needs what is absent.
 * Data files shipped beside the checkout are found with check_data_path().
 */
#ifndef HSI_TESTS_CHECK_H
#define HSI_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        check_count++;                                                                     \
        if (!(cond)) {                                                                     \
            check_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                                  \
    } while (0)

#define CHECK_MSG(cond, ...)                                                               \
    do {                                                                                   \
        check_count++;                                                                     \
        if (!(cond)) {                                                                     \
            check_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
        }                                                                                  \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                                 \
    do {                                                                                   \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                    \
        CHECK_MSG(check_a_ == check_b_, "%s = %lld, %s = %lld", #a, check_a_, #b, check_b_); \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                              \
    do {                                                                                   \
        double check_a_ = (double)(a), check_b_ = (double)(b);                             \
        CHECK_MSG(fabs(check_a_ - check_b_) <= (tol), "%s = %.9g, %s = %.9g (tol %g)", #a,  \
                  check_a_, #b, check_b_, (double)(tol));                                  \
    } while (0)

/* A library call that must succeed: prints hsi_last_error() when it fails. */
#define CHECK_OK(call)                                                                     \
    do {                                                                                   \
        hsi_status check_st_ = (call);                                                     \
        check_count++;                                                                     \
        if (check_st_ != HSI_OK) {                                                         \
            check_failures++;                                                              \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,           \
                    hsi_last_error());                                                     \
        }                                                                                  \
    } while (0)

/* A library call that must fail with status `want` and a message containing
 * `substr` (the file name, the problem). */
#define CHECK_FAILS(call, want, substr)                                                    \
    do {                                                                                   \
        hsi_status check_st_ = (call);                                                     \
        check_count++;                                                                     \
        if (check_st_ != (want) || !strstr(hsi_last_error(), (substr))) {                  \
            check_failures++;                                                              \
            fprintf(stderr, "%s:%d: %s gave status %d message '%s'; wanted %d with '%s'\n", \
                    __FILE__, __LINE__, #call, (int)check_st_, hsi_last_error(), (int)(want), \
                    (substr));                                                             \
        }                                                                                  \
    } while (0)

static inline void check_skip(const char *why)
{
    printf("SKIP: %s\n", why);
    exit(77);
}

static inline int check_finish(void)
{
    printf("%d checks, %d failed\n", check_count, check_failures);
    return check_failures ? 1 : 0;
}

/* $HSI_SHARED_DATA/rel (the reference files beside the checkout). */
static inline const char *check_data_path(const char *rel)
{
    static char buf[8][4096];
    static int slot;
    const char *root = getenv("HSI_SHARED_DATA");
    if (!root) root = "../shared/data";
    char *b = buf[slot++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", root, rel);
    return b;
}

/* A fresh scratch directory for the test's outputs (removed by the harness's
 * clean; tests name it after themselves). */
static inline const char *check_tmpdir(const char *name)
{
    static char dir[4096];
    const char *base = getenv("HSI_BUILDDIR");
    snprintf(dir, sizeof dir, "%s/tests/tmp-%s", base ? base : ".", name);
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot make %s\n", dir);
        exit(99);
    }
    return dir;
}

#endif
