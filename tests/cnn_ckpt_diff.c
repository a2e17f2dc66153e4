/* cnn_ckpt_diff.c - compare the weights of two CNN checkpoints (for
 * tests/test_cnn_mpi.sh): `cnn_ckpt_diff A B TOL` prints the largest
 * absolute difference of the parameters and batch-norm state, relative to
 * the largest magnitude in A, and exits 0 when that is at most TOL and the
 * two are at the same epoch and optimiser step, 1 otherwise (2: unreadable). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cnn3d/cnn.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: cnn_ckpt_diff A.ckpt B.ckpt TOLERANCE\n");
        return 2;
    }
    hsi_cnn_net *a = NULL, *b = NULL;
    hsi_cnn_meta ma = {0}, mb = {0};
    if (hsi_cnn_checkpoint_read(argv[1], 1, 0, NULL, &a, &ma) ||
        hsi_cnn_checkpoint_read(argv[2], 1, 0, NULL, &b, &mb)) {
        fprintf(stderr, "cnn_ckpt_diff: %s\n", hsi_last_error());
        return 2;
    }
    double tol = atof(argv[3]);
    int rc = 0;
    if (a->n_params != b->n_params || a->n_state != b->n_state) {
        printf("different nets: %zu/%zu vs %zu/%zu values\n", a->n_params, a->n_state, b->n_params,
               b->n_state);
        rc = 1;
    } else {
        double scale = 0, diff = 0;
        size_t worst = 0;
        /* params and state: [params | ... | state] of each arena */
        for (size_t i = 0; i < a->n_params + a->n_state; i++) {
            float va = i < a->n_params ? a->params[i] : a->state[i - a->n_params];
            float vb = i < b->n_params ? b->params[i] : b->state[i - b->n_params];
            if (fabs(va) > scale) scale = fabs(va);
            double d = fabs((double)va - vb);
            if (!(d <= diff)) diff = d, worst = i;
        }
        double rel = diff / (scale > 0 ? scale : 1);
        printf("epochs %d/%d steps %llu/%llu max|w| %.6g max|dw| %.3g (relative %.3g, at %zu)\n",
               a->epoch, b->epoch, (unsigned long long)a->iterations,
               (unsigned long long)b->iterations, scale, diff, rel, worst);
        if (a->epoch != b->epoch || a->iterations != b->iterations || !(rel <= tol)) rc = 1;
    }
    hsi_cnn_net_free(a), hsi_cnn_net_free(b);
    hsi_cnn_meta_clear(&ma), hsi_cnn_meta_clear(&mb);
    return rc;
}
