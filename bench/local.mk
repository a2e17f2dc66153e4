# bench/local.mk - see Makefile.am
EXTRA_DIST += bench/blas_compare.sh
EXTRA_DIST += bench/onednn_conv.c
EXTRA_DIST += bench/cnn_scaling.sh
EXTRA_DIST += bench/stream.sh
EXTRA_DIST += bench/gpu-check.sh bench/gpu-bundle.sh bench/gpu-peer-wheels.sh \
	bench/torch_lange3dcnn_gpu.py bench/keras_lange3dcnn_gpu.py
