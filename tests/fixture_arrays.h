/* fixture_arrays.h - read golden-value fixtures: blocks of "name count"
 * followed by count numbers (whitespace-separated), '#' lines are comments;
 * as written by tests/fixtures/cnn/make_fixtures.py and rnn_golden.py. */
#ifndef HSI_TESTS_FIXTURE_ARRAYS_H
#define HSI_TESTS_FIXTURE_ARRAYS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"

typedef struct array {
    char name[32];
    size_t n;
    float *v;
} array;

/* Up to max arrays into out; returns how many, or -1 (message on stderr). */
static int load_arrays(const char *path, array *out, int max)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    int n = 0;
    char line[256];
    while (n < max) {
        long pos = ftell(fp);
        if (!fgets(line, sizeof line, fp)) break;
        if (line[0] == '#') continue;
        fseek(fp, pos, SEEK_SET);
        if (fscanf(fp, "%31s %zu", out[n].name, &out[n].n) != 2) break;
        out[n].v = malloc(out[n].n * sizeof(float));
        for (size_t i = 0; i < out[n].n; i++)
            if (fscanf(fp, "%f", &out[n].v[i]) != 1) {
                fprintf(stderr, "%s: short array %s\n", path, out[n].name);
                fclose(fp);
                return -1;
            }
        if (!fgets(line, sizeof line, fp)) { /* end of the last line */
        }
        n++;
    }
    fclose(fp);
    return n;
}

/* The array called name; a missing one ends the test as a hard error (99). */
static const array *find(const array *a, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(a[i].name, name)) return &a[i];
    fprintf(stderr, "fixture array %s missing\n", name);
    exit(99);
}

/* got[i] within atol + rtol |want[i]| of the fixture, or a failed check
 * naming what and the first offenders. */
static void compare(const char *what, const float *got, const array *want, double atol,
                    double rtol)
{
    int bad = 0;
    double worst = 0;
    for (size_t i = 0; i < want->n; i++) {
        double d = fabs((double)got[i] - want->v[i]);
        worst = fmax(worst, d);
        if (d > atol + rtol * fabs(want->v[i]) && bad++ < 3)
            fprintf(stderr, "%s[%zu]: got %.9g, PyTorch %.9g\n", what, i, got[i], want->v[i]);
    }
    CHECK_MSG(bad == 0, "%s: %d of %zu values differ from PyTorch (worst %g)", what, bad, want->n,
              worst);
}

#endif
