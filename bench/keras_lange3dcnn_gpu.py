#!/usr/bin/env python3
"""Keras 3 / TensorFlow peer on a GPU (bench/gpu-check.sh): the Lange et al.
3D-CNN of ../shared/peers/keras_lange3dcnn.py (SGD, MSE, softmax) on the
first GPU, TF32 off (FP32 as hsi's default). Training: one fit() epoch of
`steps` batches after a warm-up epoch; inference: 5 predict() batches of
--infer-batch (default the training batch) after a warm-up.

Usage: keras_lange3dcnn_gpu.py [bands] [batch] [steps] [--infer-batch N]
Exits 3 with a reason on stderr when TensorFlow or a GPU it can use is missing."""
import argparse, os, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("bands", nargs="?", type=int, default=220)
ap.add_argument("batch", nargs="?", type=int, default=50)
ap.add_argument("steps", nargs="?", type=int, default=50)
ap.add_argument("--infer-batch", type=int, default=0)
a = ap.parse_args()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
try:
    import numpy as np, tensorflow as tf, keras
    from keras import layers
except ImportError as e:
    print(f"keras_lange3dcnn_gpu: no TensorFlow/Keras: {e}", file=sys.stderr)
    sys.exit(3)
gpus = tf.config.list_physical_devices("GPU")
if not gpus:
    print(f"keras_lange3dcnn_gpu: TensorFlow {tf.__version__} sees no GPU "
          f"(built with CUDA: {tf.test.is_built_with_cuda()})", file=sys.stderr)
    sys.exit(3)
tf.config.experimental.set_memory_growth(gpus[0], True)
tf.config.experimental.enable_tensor_float_32_execution(False)
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
      f"infer_samples_per_s={5*ib/di:.1f} tf={tf.__version__} keras={keras.__version__} "
      f"device=\"{tf.config.experimental.get_device_details(gpus[0]).get('device_name', 'GPU')}\"")
