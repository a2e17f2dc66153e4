# base/local.mk - status and errors, the cube and label model, RNG, atomic writes, the input registry and signal cleanup (guard), model-file records, CPU and BLAS kernel detection.
libhsi_la_SOURCES += base/status.c base/cube.c base/rng.c base/atomic.c base/guard.c base/file.c base/blob.c base/version.c base/cpu.c base/mpi.c base/ini.c
nobase_pkginclude_HEADERS += base/status.h base/cube.h base/rng.h base/atomic.h base/guard.h base/file.h base/blob.h base/version.h base/cpu.h base/progress.h base/mpi.h base/ini.h
# memory budgets of the streaming commands
libhsi_la_SOURCES += base/memory.c
nobase_pkginclude_HEADERS += base/memory.h

# The GPU queries: base/gpu.cu is built into the CUDA module (cnn3d/local.mk),
# libhsi reaches it through cnn3d/cuda_loader.c.
if !HAVE_CUDA
libhsi_la_SOURCES += base/gpu_none.c
endif
EXTRA_DIST += base/gpu.cu base/gpu_none.c
# The CPU/BLAS kernel checks and re-execution (base/cpu.h); the test is listed in tests/local.mk.
EXTRA_DIST += tests/test_cpu_kernels.sh
