#!/usr/bin/env python3
"""Keras 3 peer on a GPU (bench/gpu-check.sh): the Lange et al. 3D-CNN of
../shared/peers/keras_lange3dcnn.py (SGD, MSE, softmax) on the first GPU,
TF32 off (FP32 as hsi's default). Training: one fit() epoch of `steps`
batches after a warm-up epoch; inference: 5 predict() batches of
--infer-batch (default the training batch) after a warm-up.

Keras runs on TensorFlow where it is installed. Otherwise, on JAX, when JAX
sees a GPU (KERAS_BACKEND=jax; XLA, which calls cuDNN for the
convolutions). The lent H200 machines have JAX but no TensorFlow, and
TensorFlow's wheels are too large to carry there. The output line names the
backend.

Usage: keras_lange3dcnn_gpu.py [bands] [batch] [steps] [--infer-batch N]
       [--allow-cpu]   (run on the CPU when there is no GPU: checks the script)
Exits 3 with a reason on stderr when Keras, a backend or a GPU is missing."""
import argparse, importlib.util, os, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("bands", nargs="?", type=int, default=220)
ap.add_argument("batch", nargs="?", type=int, default=50)
ap.add_argument("steps", nargs="?", type=int, default=50)
ap.add_argument("--infer-batch", type=int, default=0)
ap.add_argument("--allow-cpu", action="store_true")
a = ap.parse_args()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NVIDIA_TF32_OVERRIDE", "0")  # no TF32 in cuBLAS / cuDNN, whatever the backend
if "KERAS_BACKEND" not in os.environ:
    have = lambda m: importlib.util.find_spec(m) is not None
    os.environ["KERAS_BACKEND"] = "tensorflow" if have("tensorflow") or not have("jax") else "jax"
backend = os.environ["KERAS_BACKEND"]
try:
    import numpy as np
    if backend == "jax":
        import jax
        jax.config.update("jax_default_matmul_precision", "highest")  # FP32, not TF32
    else:
        import tensorflow as tf
    import keras
    from keras import layers
except ImportError as e:
    print(f"keras_lange3dcnn_gpu: no Keras on {backend}: {e}", file=sys.stderr)
    sys.exit(3)

if backend == "jax":
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    device = gpus[0].device_kind if gpus else "cpu"
    versions = f"backend=jax jax={jax.__version__}"
    why = f"JAX {jax.__version__} sees no GPU (devices: {jax.devices()})"
else:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        tf.config.experimental.set_memory_growth(gpus[0], True)
        device = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    else:
        device = "cpu"
    tf.config.experimental.enable_tensor_float_32_execution(False)
    versions = f"backend=tensorflow tf={tf.__version__}"
    why = f"TensorFlow {tf.__version__} sees no GPU (built with CUDA: {tf.test.is_built_with_cuda()})"
if not gpus and not a.allow_cpu:
    print(f"keras_lange3dcnn_gpu: {why}", file=sys.stderr)
    sys.exit(3)

keras.utils.set_random_seed(0)
b = a.bands
m = keras.Sequential([keras.Input((9, 9, b, 1)),
    layers.Conv3D(48, (3, 3, 5), activation="relu"), layers.MaxPooling3D((1, 1, 3)), layers.ZeroPadding3D((0, 0, 2)),
    layers.Conv3D(32, (3, 3, 5), activation="relu"), layers.MaxPooling3D((1, 1, 3)), layers.ZeroPadding3D((0, 0, 2)),
    layers.Conv3D(32, (3, 3, 5), activation="relu"), layers.MaxPooling3D((1, 1, 2)), layers.Flatten(),
    layers.Dense(128, activation="relu"), layers.Dense(128, activation="relu"), layers.Dense(16, activation="softmax")])
m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")
x = np.random.randn(a.batch * a.steps, 9, 9, b, 1).astype("float32")
y = keras.utils.to_categorical(np.random.randint(0, 16, a.batch * a.steps), 16)
m.fit(x, y, batch_size=a.batch, epochs=1, verbose=0)  # warm-up: tracing, autotuning
t = time.perf_counter(); m.fit(x, y, batch_size=a.batch, epochs=1, verbose=0); dt = time.perf_counter() - t
ib = a.infer_batch or a.batch
xb = np.random.randn(ib, 9, 9, b, 1).astype("float32")
m.predict_on_batch(xb)
t = time.perf_counter()
for _ in range(5): m.predict_on_batch(xb)
di = time.perf_counter() - t
print(f"params={m.count_params()} train_samples_per_s={a.batch*a.steps/dt:.1f} "
      f"infer_samples_per_s={5*ib/di:.1f} {versions} keras={keras.__version__} "
      f"device=\"{device}\"")
