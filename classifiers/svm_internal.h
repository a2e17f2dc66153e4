/* svm_internal.h - helpers shared by svm.c and svm_grid.c (not installed). */
#ifndef HSI_SVM_INTERNAL_H
#define HSI_SVM_INTERNAL_H

#include <libsvm/svm.h>

#include "classifiers/svm.h"

/* Route libsvm's progress chatter to nowhere (the library never prints). */
void hsi_svm_silence_libsvm(void);

/* hsi parameters as a libsvm C-SVC parameter block (no weights set). */
void hsi_svm_libsvm_param(const hsi_svm_params *p, struct svm_parameter *sp);

/* Samples as libsvm node rows: *rows is one block of n * (dim + 1) nodes,
 * (*ptrs)[i] row i. Caller frees both. */
hsi_status hsi_svm_dense_nodes(const float *x, size_t n, size_t dim, struct svm_node **rows,
                               struct svm_node ***ptrs);

/* counts[k] = samples of class k (counts has n_classes + 1 entries);
 * HSI_ERR_DATA if a label is outside 1..n_classes. */
hsi_status hsi_svm_class_counts(const uint16_t *y, size_t n, int n_classes, size_t *counts);

/* libsvm weight arrays (NULL, NULL when neither balanced nor class_weight). */
hsi_status hsi_svm_class_weights(const size_t *counts, size_t n, int n_classes, int balanced,
                                 const double *class_weight, int **labels, double **weights);

#endif
