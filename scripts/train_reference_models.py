"""Train the reference model family ``digits`` and export it as float32 .tflite.

The family is a small image classifier on the handwritten digits data set that
scikit-learn bundles (1,797 8x8 greyscale images, 10 classes; no download). The
images are resized to 32x32 so the network does real convolution work. Three
widths (width multipliers 0.5, 1.0 and 2.0) share one architecture:

    conv3x3/2 (16w) -> depthwise3x3 -> conv1x1 (32w) -> maxpool2
    -> depthwise3x3 -> conv1x1 (64w) -> global average pool -> dense 10 -> softmax

Outputs (committed, consumed by ``orchestrator.reference``):

    orchestrator/reference/digits/digits_w0.5.tflite, _w1.0, _w2.0   float32, with a SignatureDef
    orchestrator/reference/digits/eval.npz    x: float32 [N,32,32,1] in [0,1], y: int64 [N]
    orchestrator/reference/digits/family.json  input spec, labels, training settings and the
                                                accuracy of every exported model on eval.npz

Deterministic: fixed seeds, op determinism, one thread. Needs the ``train`` extra
(TensorFlow, scikit-learn) and is never needed at run or test time:

    python -m venv /tmp/train && /tmp/train/bin/pip install -e '.[train]'
    /tmp/train/bin/python scripts/train_reference_models.py
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np

SEED = 1234
IMAGE_SIZE = 32
WIDTHS = (0.5, 1.0, 2.0)
EPOCHS = 60
BATCH = 32
LABELS = [str(d) for d in range(10)]
OUT = Path(__file__).resolve().parents[1] / "orchestrator" / "reference" / "digits"


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import tensorflow as tf
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images.astype(np.float32) / 16.0)[..., None]
    resized = tf.image.resize(images, (IMAGE_SIZE, IMAGE_SIZE), method="bilinear").numpy()
    resized = np.clip(resized, 0.0, 1.0).astype(np.float32)
    x_train, x_eval, y_train, y_eval = train_test_split(
        resized, digits.target.astype(np.int64), test_size=0.2, stratify=digits.target, random_state=0
    )
    return x_train, y_train, x_eval, y_eval


def build(width: float):  # type: ignore[no-untyped-def]
    import tensorflow as tf

    def ch(n: int) -> int:
        return max(4, round(n * width))

    inputs = tf.keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), batch_size=1, name="image")
    x = tf.keras.layers.Conv2D(ch(16), 3, strides=2, padding="same", activation="relu")(inputs)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = tf.keras.layers.Conv2D(ch(32), 1, activation="relu")(x)
    x = tf.keras.layers.MaxPooling2D(2)(x)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = tf.keras.layers.Conv2D(ch(64), 1, activation="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = tf.keras.layers.Dense(len(LABELS))(x)
    outputs = tf.keras.layers.Softmax(name="probabilities")(x)
    return tf.keras.Model(inputs, outputs, name=f"digits_w{width}")


def train(width: float, x: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
    import tensorflow as tf

    tf.keras.utils.set_random_seed(SEED)
    # Train with a free batch dimension, then copy the weights into the batch-1 export model.
    trainable = build(width)
    train_model = tf.keras.Model(trainable.inputs, trainable.outputs)
    flexible_in = tf.keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1))
    flexible = tf.keras.Model(flexible_in, _clone_body(trainable, flexible_in))
    flexible.compile(
        optimizer=tf.keras.optimizers.Adam(
            tf.keras.optimizers.schedules.CosineDecay(3e-3, decay_steps=EPOCHS * -(-len(x) // BATCH))
        ),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    flexible.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=True, verbose=0)
    train_model.set_weights(flexible.get_weights())
    return train_model


def _clone_body(model, new_input):  # type: ignore[no-untyped-def]
    x = new_input
    for layer in model.layers[1:]:
        x = layer(x)
    return x


def export(model, path: Path) -> None:  # type: ignore[no-untyped-def]
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    path.write_bytes(converter.convert())


def tflite_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    correct = 0
    for image, label in zip(x, y, strict=True):
        interpreter.set_tensor(inp, image[None])
        interpreter.invoke()
        correct += int(np.argmax(interpreter.get_tensor(out)[0]) == label)
    return correct / len(y)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)

    args.out.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_eval, y_eval = load_data()
    np.savez_compressed(args.out / "eval.npz", x=x_eval, y=y_eval, labels=np.array(LABELS))

    models = []
    for width in WIDTHS:
        model = train(width, x_train, y_train)
        name = f"digits_w{width}"
        path = args.out / f"{name}.tflite"
        export(model, path)
        acc = tflite_accuracy(path, x_eval, y_eval)
        print(f"{name}: params={model.count_params()} eval accuracy={acc:.4f} ({path.stat().st_size} B)")
        models.append(
            {
                "name": name,
                "file": path.name,
                "width": width,
                "parameters": int(model.count_params()),
                "eval_accuracy": acc,
            }
        )

    family = {
        "model": "digits",
        "description": "Handwritten digits (scikit-learn load_digits), 8x8 resized to 32x32, 10 classes",
        "input": {"shape": [1, IMAGE_SIZE, IMAGE_SIZE, 1], "dtype": "float32", "range": [0.0, 1.0]},
        "labels": LABELS,
        "eval": {
            "file": "eval.npz",
            "samples": len(y_eval),
            "split": "train_test_split(0.2, stratified, rs=0)",
        },
        "training": {
            "seed": SEED,
            "epochs": EPOCHS,
            "batch": BATCH,
            "optimizer": "adam 3e-3, cosine decay",
            "tensorflow": tf.__version__,
        },
        "models": models,
    }
    (args.out / "family.json").write_text(json.dumps(family, indent=2) + "\n")


if __name__ == "__main__":
    main()
