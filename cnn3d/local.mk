# cnn3d/local.mk - the 3D-CNN engine: specs, CPU backend, layers, training, checkpoints, scene prediction.
libhsi_la_SOURCES += cnn3d/spec.c cnn3d/backend_cpu.c cnn3d/conv_taps.c cnn3d/conv_winograd.c cnn3d/gemm_bf16.c cnn3d/net.c cnn3d/train.c cnn3d/checkpoint.c cnn3d/predict.c cnn3d/dist.c
libhsi_la_SOURCES += cnn3d/rnn.c cnn3d/rnn_cpu.c
libhsi_la_SOURCES += cnn3d/schedule.c cnn3d/augment.c cnn3d/transfer.c
# The CUDA + cuDNN backend (nvcc) or its stand-in; cnn3d/device.c picks one by name.
libhsi_la_SOURCES += cnn3d/device.c
# With CUDA the backend is a loadable module, hsi_cuda.so in $(pkglibdir)
# (cnn3d/cuda_module.h): libhsi and hsi link no CUDA library, and
# cnn3d/cuda_loader.c dlopen()s the module only when a GPU is asked for.
if HAVE_CUDA
libhsi_la_SOURCES += cnn3d/cuda_loader.c
libhsi_la_LIBADD += -ldl
pkglib_LTLIBRARIES = hsi_cuda.la
hsi_cuda_la_SOURCES = cnn3d/cuda_module.c cnn3d/backend_cuda.cu cnn3d/backend_cuda_conv.cu \
	cnn3d/backend_cuda_ops.cu base/gpu.cu
# Only the entry point is exported: the module's hsi_gpu_count & co. must
# bind to its own definitions, not to libhsi's forwarding ones.
hsi_cuda_la_LDFLAGS = -module -avoid-version -export-symbols-regex '^hsi_cuda_module_entry$$' \
	$(HSI_LDFLAGS)
hsi_cuda_la_LIBADD = libhsi.la $(CUDA_LIBS) -lm
else
libhsi_la_SOURCES += cnn3d/backend_cuda_none.c
endif
AM_CPPFLAGS += -DHSI_PKGLIBDIR='"$(pkglibdir)"'
EXTRA_DIST += cnn3d/backend_cuda.cu cnn3d/backend_cuda_conv.cu cnn3d/backend_cuda_ops.cu \
	cnn3d/backend_cuda_none.c cnn3d/cuda_module.c cnn3d/cuda_loader.c
noinst_HEADERS += cnn3d/backend_cuda.h cnn3d/cuda_math.h cnn3d/cuda_module.h
nobase_pkginclude_HEADERS += cnn3d/cnn.h cnn3d/backend.h cnn3d/dist.h cnn3d/device.h
# tiles of whole-scene prediction within --memory
libhsi_la_SOURCES += cnn3d/predict_budget.c
# whole-scene prediction by dense evaluation of the layers before [flatten]
libhsi_la_SOURCES += cnn3d/predict_dense.c
noinst_HEADERS += cnn3d/predict_dense.h
nobase_pkginclude_HEADERS += cnn3d/predict_budget.h
noinst_HEADERS += cnn3d/conv_taps.h cnn3d/conv_winograd.h cnn3d/gemm_bf16.h cnn3d/rnn.h

TESTS += tests/test_cnn_conv
check_PROGRAMS += tests/test_cnn_conv
tests_test_cnn_conv_LDADD = $(TEST_LDADD)
TESTS += tests/test_cnn_winograd
check_PROGRAMS += tests/test_cnn_winograd
tests_test_cnn_winograd_LDADD = $(TEST_LDADD)
TESTS += tests/test_cnn_conv_split
check_PROGRAMS += tests/test_cnn_conv_split
tests_test_cnn_conv_split_LDADD = $(TEST_LDADD)
TESTS += tests/test_cnn_pool
check_PROGRAMS += tests/test_cnn_pool
tests_test_cnn_pool_LDADD = $(TEST_LDADD)

# Throughput of the engine (bench/cnn_bench.sh runs it beside the PyTorch peer).
noinst_PROGRAMS += bench/cnn_throughput
bench_cnn_throughput_LDADD = $(TEST_LDADD)
bench_cnn_throughput_LDFLAGS = $(HSI_LDFLAGS) $(OPENMP_CFLAGS)
noinst_PROGRAMS += bench/cnn_layers
bench_cnn_layers_LDADD = $(TEST_LDADD)
bench_cnn_layers_LDFLAGS = $(HSI_LDFLAGS) $(OPENMP_CFLAGS)
EXTRA_DIST += cnn3d/specs/lange2018.cfg cnn3d/specs/lange2018_adam.cfg

TESTS += tests/test_cnn_grad
check_PROGRAMS += tests/test_cnn_grad
tests_test_cnn_grad_LDADD = $(TEST_LDADD)

TESTS += tests/test_cnn_golden
check_PROGRAMS += tests/test_cnn_golden
tests_test_cnn_golden_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/fixtures/cnn/golden.cfg tests/fixtures/cnn/make_fixtures.py \
	tests/fixtures/cnn/golden_init.txt tests/fixtures/cnn/golden_sgd.txt \
	tests/fixtures/cnn/golden_adam.txt

hsi_SOURCES += tools/cmd_cnn.c

TESTS += tests/test_cnn_spec
check_PROGRAMS += tests/test_cnn_spec
tests_test_cnn_spec_LDADD = $(TEST_LDADD)
EXTRA_DIST += cnn3d/specs/hamida2018.cfg cnn3d/specs/li2017.cfg cnn3d/specs/spectral_mlp.cfg

TESTS += tests/test_cnn_train
check_PROGRAMS += tests/test_cnn_train
tests_test_cnn_train_LDADD = $(TEST_LDADD)

TESTS += tests/test_cnn_cli
check_PROGRAMS += tests/test_cnn_cli
tests_test_cnn_cli_LDADD = $(TEST_LDADD)
EXTRA_DIST += bench/cnn_bench.sh
EXTRA_DIST += bench/cnn_accuracy.sh bench/cnn_agreement.sh bench/cnn_torch_reference.py
EXTRA_DIST += cnn3d/specs/README.md

TESTS += tests/test_cnn_checkpoint
check_PROGRAMS += tests/test_cnn_checkpoint
tests_test_cnn_checkpoint_LDADD = $(TEST_LDADD)

TESTS += tests/test_cnn_bf16
check_PROGRAMS += tests/test_cnn_bf16
tests_test_cnn_bf16_LDADD = $(TEST_LDADD)

# The recurrent layers against PyTorch (fixture by tests/fixtures/cnn/rnn_golden.py).
TESTS += tests/test_cnn_rnn
check_PROGRAMS += tests/test_cnn_rnn
tests_test_cnn_rnn_LDADD = $(TEST_LDADD)
EXTRA_DIST += tests/fixtures/cnn/rnn_golden.py tests/fixtures/cnn/rnn_golden.txt \
	tests/fixture_arrays.h cnn3d/specs/mou2017_rnn.cfg bench/rnn_bench.sh bench/rnn_torch_peer.py

# Data-parallel training and prediction over MPI ranks (cnn3d/dist.c):
# cnn_ckpt_diff compares the weights of two checkpoints for the test;
# cnn_dist_check checks the shards, the scene split and a failing rank
# on every rank of an mpirun.
check_PROGRAMS += tests/cnn_ckpt_diff tests/cnn_dist_check
tests_cnn_ckpt_diff_LDADD = $(TEST_LDADD)
tests_cnn_dist_check_LDADD = $(TEST_LDADD)
TESTS += tests/test_cnn_mpi.sh
EXTRA_DIST += tests/test_cnn_mpi.sh

TESTS += tests/test_cnn_practice
check_PROGRAMS += tests/test_cnn_practice
tests_test_cnn_practice_LDADD = $(TEST_LDADD)
TESTS += tests/test_class_tables.sh tests/test_cnn_practice_cli.sh
EXTRA_DIST += tests/test_class_tables.sh tests/test_cnn_practice_cli.sh bench/cnn_transfer.sh

# nvcc objects get no automatic dependency tracking: name their headers.
cnn3d/backend_cuda.lo cnn3d/backend_cuda_conv.lo cnn3d/backend_cuda_ops.lo: \
	$(srcdir)/cnn3d/backend_cuda.h $(srcdir)/cnn3d/cuda_math.h $(srcdir)/cnn3d/backend.h \
	$(srcdir)/cnn3d/device.h $(srcdir)/base/status.h

# The GPU backend: its kernel math and the net's device paths on the CPU
# (every build), and the CPU-vs-GPU comparison (CUDA builds; SKIP without
# a usable GPU). tests/backend_compare.h is the harness both share.
TESTS += tests/test_cnn_device
check_PROGRAMS += tests/test_cnn_device
tests_test_cnn_device_LDADD = $(TEST_LDADD)
noinst_HEADERS += tests/backend_compare.h
if HAVE_CUDA
TESTS += tests/test_cnn_cuda
check_PROGRAMS += tests/test_cnn_cuda
tests_test_cnn_cuda_LDADD = $(TEST_LDADD)
endif
EXTRA_DIST += tests/test_cnn_cuda.c
TESTS += tests/test_cnn_device_cli.sh
EXTRA_DIST += tests/test_cnn_device_cli.sh

# Dense (fully convolutional) scene prediction against the per-window path.
TESTS += tests/test_cnn_dense
check_PROGRAMS += tests/test_cnn_dense
tests_test_cnn_dense_LDADD = $(TEST_LDADD)
EXTRA_DIST += bench/cnn_predict_dense.sh
