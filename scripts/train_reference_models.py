"""Train the reference family ``digits``: the demo's three networks, a Once-for-All supernet, Early-Bird.

The family is a small image classifier on the handwritten digits data set that scikit-learn bundles
(1,797 8x8 greyscale images, 10 classes; no download), resized to 32x32 so the network does real
convolution work. One architecture, in width w (a multiplier of 16 / 32 / 64 channels):

    conv3x3/2 (16w) -> depthwise3x3 -> conv1x1 (32w) -> maxpool2
    -> depthwise3x3 -> conv1x1 (64w) -> global average pool -> dense 10 -> softmax      (ReLU after each)

0. **Separately trained** ``digits_w0.5`` / ``_w1.0`` / ``_w2.0`` (no batch norm, 60 epochs each): the
   networks the demo and the tests are calibrated on. They are kept byte for byte: written only when
   missing from ``--out`` or with ``--retrain-separate``. Retraining does NOT reproduce the shipped bytes
   (TensorFlow 2.21.0 / Keras 3.15.1 here give other weights and 92.2 / 95.8 / 95.8 % instead of
   93.6 / 95.8 / 94.7 %), so the shipped files stay. This runs first, as it always did: Keras names
   layers by a process-wide count and the names are in the bytes.
1. **Once-for-All** (Cai et al., ICLR 2020), ``digits_ofa_w*``: one weight-shared supernet at width 2.0
   (with batch norm) trained by progressive shrinking: the full width first, then phases that also train
   narrower widths (each step: the full width, the phase's narrowest width and one sampled width between,
   the narrower ones distilled from the full width's output in the same step, BigNAS's sandwich rule).
   Before each phase the channels are sorted by importance (L1 norm of the weights that read them) so
   narrower widths take the most important channels. Sub-networks at widths 0.25 ... 2.0 are extracted
   without retraining: the first channels of every layer, batch-norm statistics recomputed on the training
   data at that width. Elastic kernel size is not used: only the two depthwise layers could shrink below
   3x3 (to 1x1, which sees no neighbours) and they are 15 % of the MACs at width 1.0; width is where
   the cost is.
2. **Early-Bird** (You et al., ICLR 2020), ``digits_eb_w1.0-p*``: the same architecture with batch norm at
   width 1.0, trained from scratch with L1 on its batch-norm scales until the ticket is drawn, pruned at
   0.3 / 0.5 / 0.7 and fine-tuned, with the code of ``edgefleet variants build --prune``
   (:mod:`edgefleet.orchestrator.variants.pruning`).

Outputs (committed, consumed by ``edgefleet.orchestrator.reference``):

    orchestrator/reference/digits/digits_*.tflite       float32, batch 1, with a SignatureDef
    orchestrator/reference/digits/eval.npz             the evaluation set (written only when missing;
                                                       otherwise checked to be the same split)
    orchestrator/reference/digits/family.json          input spec, labels, training settings and, per
                                                       network: origin, width, accuracy (whole set and
                                                       scoring split), MACs, parameters, pruning record
    orchestrator/reference/digits/timings.json         CPU seconds of every training (not reproducible;
                                                       entries of networks not retrained are kept)

Training data are the 80 % of the images outside eval.npz (the same stratified split as always).
Deterministic: seeds, op determinism, one thread, oneDNN off: two runs give identical .tflite and
family.json bytes. ``--quick`` runs every code path with a few epochs (for the determinism test; never
shipped). Needs the ``train`` extra and is never needed at run or test time:

    python -m venv /tmp/train && /tmp/train/bin/pip install -e '.[orchestrator,train]'
    /tmp/train/bin/python scripts/train_reference_models.py
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np

SEED = 1234
IMAGE_SIZE = 32
BASE_CHANNELS = (16, 32, 64)
MAX_WIDTH = 2.0
WIDTHS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
#: The demo's networks, each trained on its own (no batch norm): epochs and peak learning rate.
SEPARATE_WIDTHS = (0.5, 1.0, 2.0)
SEPARATE = {"epochs": 60, "learning_rate": 3e-3}
#: Progressive shrinking: (epochs, peak learning rate, widths trained in the phase).
PHASES = (
    (8, 3e-3, (2.0,)),
    (5, 1.5e-3, (2.0, 1.5, 1.0)),
    (6, 1.5e-3, (2.0, 1.5, 1.0, 0.75, 0.5)),
    (12, 1.5e-3, WIDTHS),
)
DISTILL = 0.5  # share of a narrower width's loss taken from the full width's soft labels
BATCH = 32
EPS = 1e-3
EARLY_BIRD_WIDTHS = (1.0,)
EARLY_BIRD_RATIOS = (0.3, 0.5, 0.7)
EARLY_BIRD = {"search_epochs": 20, "finetune_epochs": 8, "learning_rate": 3e-3, "l1": 1e-4}
LABELS = [str(d) for d in range(10)]
OUT = Path(__file__).resolve().parents[1] / "orchestrator" / "reference" / "digits"


def channels(width: float) -> tuple[int, int, int]:
    c1, c2, c3 = (max(4, round(n * width)) for n in BASE_CHANNELS)
    return c1, c2, c3


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


def separate_model(width: float) -> Any:
    """The demo's architecture: no batch norm, ReLU fused into each layer; batch 1 (for export)."""
    import tensorflow as tf

    c1, c2, c3 = channels(width)
    layers = tf.keras.layers
    inputs = tf.keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), batch_size=1, name="image")
    h = layers.Conv2D(c1, 3, strides=2, padding="same", activation="relu")(inputs)
    h = layers.DepthwiseConv2D(3, padding="same", activation="relu")(h)
    h = layers.Conv2D(c2, 1, activation="relu")(h)
    h = layers.MaxPooling2D(2)(h)
    h = layers.DepthwiseConv2D(3, padding="same", activation="relu")(h)
    h = layers.Conv2D(c3, 1, activation="relu")(h)
    h = layers.GlobalAveragePooling2D()(h)
    h = layers.Dense(len(LABELS))(h)
    outputs = layers.Softmax(name="probabilities")(h)
    return tf.keras.Model(inputs, outputs, name=f"digits_w{width}")


def train_separate(width: float, x: np.ndarray, y: np.ndarray) -> Any:
    """Keras ``fit`` on a free-batch copy of the layers; the batch-1 model shares their weights."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(SEED)
    export = separate_model(width)
    export = tf.keras.Model(export.inputs, export.outputs)
    flexible_in = tf.keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1))
    h = flexible_in
    for layer in export.layers[1:]:
        h = layer(h)
    flexible = tf.keras.Model(flexible_in, h)
    epochs = SEPARATE["epochs"]
    rate = tf.keras.optimizers.schedules.CosineDecay(
        SEPARATE["learning_rate"], decay_steps=epochs * -(-len(x) // BATCH)
    )
    flexible.compile(
        optimizer=tf.keras.optimizers.Adam(rate),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    flexible.fit(x, y, epochs=epochs, batch_size=BATCH, shuffle=True, verbose=0)
    export.set_weights(flexible.get_weights())
    return export


class Supernet:
    """The width-2.0 network's weights; ``forward`` runs any width on the first channels of each layer."""

    def __init__(self) -> None:
        import tensorflow as tf

        c1, c2, c3 = channels(MAX_WIDTH)
        he = tf.keras.initializers.HeNormal(seed=SEED)
        glorot = tf.keras.initializers.GlorotUniform(seed=SEED + 1)

        def var(init: Any, shape: tuple[int, ...], name: str) -> Any:
            return tf.Variable(init(shape), name=name)

        ones, zeros = tf.keras.initializers.Ones(), tf.keras.initializers.Zeros()
        self.kernels = {
            "conv1": var(he, (3, 3, 1, c1), "conv1"),
            "dw1": var(he, (3, 3, c1, 1), "dw1"),
            "pw1": var(he, (1, 1, c1, c2), "pw1"),
            "dw2": var(he, (3, 3, c2, 1), "dw2"),
            "pw2": var(he, (1, 1, c2, c3), "pw2"),
            "fc": var(glorot, (c3, 10), "fc"),
        }
        sizes = {"bn1": c1, "bn2": c1, "bn3": c2, "bn4": c2, "bn5": c3}
        self.gammas = {k: var(ones, (n,), f"{k}_gamma") for k, n in sizes.items()}
        self.betas = {k: var(zeros, (n,), f"{k}_beta") for k, n in sizes.items()}
        self.fc_bias = var(zeros, (10,), "fc_bias")

    @property
    def variables(self) -> list[Any]:
        return [*self.kernels.values(), *self.gammas.values(), *self.betas.values(), self.fc_bias]

    def forward(self, x: Any, width: float, moments: dict[str, Any] | None = None) -> Any:
        """Logits, normalising with the batch's statistics (``moments`` collects them when given)."""
        import tensorflow as tf

        c1, c2, c3 = channels(width)
        k = self.kernels

        def bn(h: Any, name: str, n: int) -> Any:
            mean, var = tf.nn.moments(h, axes=[0, 1, 2])
            if moments is not None:
                moments[name] = (mean, var)
            h = tf.nn.batch_normalization(h, mean, var, self.betas[name][:n], self.gammas[name][:n], EPS)
            return tf.nn.relu(h)

        h = tf.nn.conv2d(x, k["conv1"][:, :, :, :c1], strides=2, padding="SAME")
        h = bn(h, "bn1", c1)
        h = bn(tf.nn.depthwise_conv2d(h, k["dw1"][:, :, :c1, :], [1, 1, 1, 1], "SAME"), "bn2", c1)
        h = bn(tf.nn.conv2d(h, k["pw1"][:, :, :c1, :c2], 1, "VALID"), "bn3", c2)
        h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        h = bn(tf.nn.depthwise_conv2d(h, k["dw2"][:, :, :c2, :], [1, 1, 1, 1], "SAME"), "bn4", c2)
        h = bn(tf.nn.conv2d(h, k["pw2"][:, :, :c2, :c3], 1, "VALID"), "bn5", c3)
        h = tf.reduce_mean(h, axis=[1, 2])
        return tf.matmul(h, k["fc"][:c3]) + self.fc_bias

    def sort_channels(self) -> None:
        """OFA's channel sorting: most important channels first (L1 norm of the weights reading them)."""
        k, g, b = self.kernels, self.gammas, self.betas
        groups = (  # (reader kernel and its input axis, [(kernel, axis)], [batch norms])
            (("pw1", 2), [("conv1", 3), ("dw1", 2)], ["bn1", "bn2"]),
            (("pw2", 2), [("pw1", 3), ("dw2", 2)], ["bn3", "bn4"]),
            (("fc", 0), [("pw2", 3)], ["bn5"]),
        )
        for (reader, axis), writers, norms in groups:
            w = k[reader].numpy()
            importance = np.abs(np.moveaxis(w, axis, 0)).reshape(w.shape[axis], -1).sum(axis=1)
            order = np.argsort(-importance, kind="stable")
            for name, ax in [(reader, axis), *writers]:
                k[name].assign(np.take(k[name].numpy(), order, axis=ax))
            for name in norms:
                g[name].assign(g[name].numpy()[order])
                b[name].assign(b[name].numpy()[order])


def train_supernet(x: np.ndarray, y: np.ndarray) -> tuple[Supernet, list[dict[str, Any]]]:
    import tensorflow as tf

    net = Supernet()
    ce = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    rng = np.random.default_rng(SEED)
    record = []
    for phase, (epochs, rate, widths) in enumerate(PHASES):
        if phase:
            net.sort_channels()
        steps = epochs * -(-len(x) // BATCH)
        optimizer = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(rate, steps))
        narrower = [w for w in widths if w < MAX_WIDTH]

        @tf.function(autograph=False)
        def step(xb: Any, yb: Any, widths: tuple[float, ...], optimizer: Any = optimizer) -> Any:
            with tf.GradientTape() as tape:
                full = net.forward(xb, MAX_WIDTH)
                loss = ce(yb, full)
                soft = tf.nn.softmax(tf.stop_gradient(full))
                for width in widths:
                    sub = net.forward(xb, width)
                    kd = tf.keras.losses.categorical_crossentropy(soft, sub, from_logits=True)
                    loss += (1 - DISTILL) * ce(yb, sub) + DISTILL * tf.reduce_mean(kd)
            grads = tape.gradient(loss, net.variables)
            optimizer.apply_gradients(zip(grads, net.variables, strict=True))
            return loss

        for _ in range(epochs):
            order = rng.permutation(len(x))
            for start in range(0, len(order), BATCH):
                idx = order[start : start + BATCH]
                # The sandwich: the full width, the phase's narrowest, and one more sampled between.
                sampled = {min(narrower), float(rng.choice(narrower))} if narrower else set()
                step(tf.constant(x[idx]), tf.constant(y[idx]), tuple(sorted(sampled)))
        record.append({"epochs": epochs, "learning_rate": rate, "widths": list(widths)})
    return net, record


def extract(net: Supernet, width: float, x_train: np.ndarray) -> Any:
    """The sub-network at ``width`` as a batch-1 Keras model: the first channels of every layer, batch
    norm with statistics of the whole training set at that width (no retraining)."""
    import tensorflow as tf

    c1, c2, c3 = channels(width)
    moments: dict[str, Any] = {}
    net.forward(tf.constant(x_train), width, moments)
    layers = tf.keras.layers
    inputs = tf.keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), batch_size=1, name="image")
    plan = [
        (layers.Conv2D(c1, 3, strides=2, padding="same", use_bias=False, name="conv1"), "conv1", "bn1", c1),
        (layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw1"), "dw1", "bn2", c1),
        (layers.Conv2D(c2, 1, use_bias=False, name="pw1"), "pw1", "bn3", c2),
        (layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw2"), "dw2", "bn4", c2),
        (layers.Conv2D(c3, 1, use_bias=False, name="pw2"), "pw2", "bn5", c3),
    ]
    h, built = inputs, []
    for layer, kernel, norm, n in plan:
        batchnorm = layers.BatchNormalization(epsilon=EPS, name=norm)
        h = layers.ReLU(name=f"{kernel}_relu")(batchnorm(layer(h)))
        if kernel == "pw1":
            h = layers.MaxPooling2D(2, name="pool")(h)
        built.append((layer, kernel, batchnorm, norm, n))
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    dense = layers.Dense(10, name="fc")
    outputs = layers.Softmax(name="probabilities")(dense(h))
    model = tf.keras.Model(inputs, outputs, name=f"digits_w{width}")
    widths_in = {"conv1": 1, "dw1": None, "pw1": c1, "dw2": None, "pw2": c2}
    for layer, kernel, batchnorm, norm, n in built:
        w = net.kernels[kernel].numpy()
        cin = widths_in[kernel]
        w = w[:, :, :n, :] if cin is None else w[:, :, :cin, :n]
        layer.set_weights([w])
        mean, var = moments[norm]
        batchnorm.set_weights(
            [net.gammas[norm].numpy()[:n], net.betas[norm].numpy()[:n], mean.numpy(), var.numpy()]
        )
    dense.set_weights([net.kernels["fc"].numpy()[:c3], net.fc_bias.numpy()])
    return model


def dense_model(width: float) -> Any:
    """The same architecture as an ordinary Keras model (what Early-Bird prunes), trained from scratch."""
    import tensorflow as tf

    c1, c2, c3 = channels(width)
    layers = tf.keras.layers

    # Every layer named: Keras numbers unnamed layers by a process-wide count, the names go into the
    # .tflite bytes, and what TensorFlow builds behind the scenes (conversion, retracing) moves that count.
    def block(h: Any, layer: Any) -> Any:
        norm = layers.BatchNormalization(epsilon=EPS, name=f"{layer.name}_bn")
        return layers.ReLU(name=f"{layer.name}_relu")(norm(layer(h)))

    inputs = tf.keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), name="image")
    h = block(inputs, layers.Conv2D(c1, 3, strides=2, padding="same", use_bias=False, name="conv1"))
    h = block(h, layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw1"))
    h = layers.MaxPooling2D(2, name="pool")(block(h, layers.Conv2D(c2, 1, use_bias=False, name="pw1")))
    h = block(h, layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw2"))
    h = block(h, layers.Conv2D(c3, 1, use_bias=False, name="pw2"))
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    outputs = layers.Softmax(name="probabilities")(layers.Dense(10, name="fc")(h))
    return tf.keras.Model(inputs, outputs, name=f"digits_dense_w{width}")


def tflite_accuracy(data: bytes, x: np.ndarray, y: np.ndarray) -> float:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    correct = 0
    for image, label in zip(x, y, strict=True):
        interpreter.set_tensor(inp, image[None])
        interpreter.invoke()
        correct += int(np.argmax(interpreter.get_tensor(out)[0]) == label)
    return correct / len(y)


def check_eval(out: Path, x_eval: np.ndarray, y_eval: np.ndarray) -> None:
    """eval.npz stays as it is (its bytes name the family's evaluation set): write it only when missing."""
    path = out / "eval.npz"
    if not path.exists():
        np.savez_compressed(path, x=x_eval, y=y_eval, labels=np.array(LABELS))
        return
    with np.load(path) as npz:
        if not (np.array_equal(npz["x"], x_eval) and np.array_equal(npz["y"], y_eval)):
            raise SystemExit(f"{path} differs from the split this script makes; refusing to go on")


def main() -> None:
    global PHASES, EARLY_BIRD, SEPARATE
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every code path with a few epochs: checks the script and its determinism (not for shipping)",
    )
    parser.add_argument(
        "--retrain-separate",
        action="store_true",
        help="retrain the demo's three separately trained networks even when --out has them",
    )
    args = parser.parse_args()
    if args.quick:
        PHASES = tuple((1, rate, widths) for _, rate, widths in PHASES)
        EARLY_BIRD = {**EARLY_BIRD, "search_epochs": 6, "finetune_epochs": 1}
        SEPARATE = {**SEPARATE, "epochs": 1}

    import tensorflow as tf

    from edgefleet.core.evalset import load_eval_set
    from edgefleet.orchestrator.variants.analyser import analyse_graph
    from edgefleet.orchestrator.variants.graph import read_graph
    from edgefleet.orchestrator.variants.pruning import PruneSettings, deterministic, prune_model, to_tflite

    deterministic(SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_eval, y_eval = load_data()
    check_eval(args.out, x_eval, y_eval)
    scoring = load_eval_set(args.out / "eval.npz").split().scoring
    models: list[dict[str, Any]] = []
    timings_path = args.out / "timings.json"
    timings: dict[str, Any] = json.loads(timings_path.read_text()) if timings_path.exists() else {}

    def ship(name: str, data: bytes, entry: dict[str, Any]) -> None:
        path = args.out / f"{name}.tflite"
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        facts = analyse_graph(read_graph(data))
        entry = {
            "name": name,
            "file": path.name,
            **entry,
            "demo": entry["origin"] == "separately-trained",
            "parameters": facts.parameters,
            "macs": facts.total_macs,
            "eval_accuracy": tflite_accuracy(data, x_eval, y_eval),
            "scoring_accuracy": tflite_accuracy(data, scoring.x, scoring.y),
        }
        models.append(entry)
        print(
            f"{name}: params={entry['parameters']} MACs={entry['macs']} eval={entry['eval_accuracy']:.4f} "
            f"scoring={entry['scoring_accuracy']:.4f} ({len(data)} B)",
            flush=True,
        )

    # First, as always: Keras names layers by a process-wide count, and the names are in the bytes.
    for width in SEPARATE_WIDTHS:
        name = f"digits_w{width}"
        path = args.out / f"{name}.tflite"
        if args.retrain_separate or not path.exists():
            started = time.process_time()
            data = to_tflite(train_separate(width, x_train, y_train))
            timings[name] = {"cpu_seconds": round(time.process_time() - started, 1)}
        else:
            data = path.read_bytes()
        ship(name, data, {"origin": "separately-trained", "width": width})

    deterministic(SEED)
    started = time.process_time()
    net, phases = train_supernet(x_train, y_train)
    timings["once_for_all_supernet"] = {"cpu_seconds": round(time.process_time() - started, 1)}
    for width in WIDTHS:
        name = f"digits_ofa_w{width}"
        started = time.process_time()
        data = to_tflite(extract(net, width, x_train))
        timings[name] = {
            "cpu_seconds": round(time.process_time() - started, 1),
            "extraction_only": "trained once: once_for_all_supernet",
        }
        ship(name, data, {"origin": "once-for-all", "width": width})

    for width in EARLY_BIRD_WIDTHS:
        deterministic(SEED)
        settings = PruneSettings(EARLY_BIRD_RATIOS, seed=SEED, batch=BATCH, **EARLY_BIRD)  # type: ignore[arg-type]
        started = time.process_time()
        _, pruned = prune_model(dense_model(width), x_train, y_train, settings, source=f"w{width}")
        seconds = round(time.process_time() - started, 1)
        timings[f"early_bird_w{width}"] = {
            "cpu_seconds": seconds,
            "covers": "the ticket search and the fine-tuning of every ratio",
        }
        for p in pruned:
            name = f"digits_eb_w{width}-p{p.ratio:g}"
            record = {f: getattr(p.record, f) for f in p.record.__dataclass_fields__}
            ship(name, p.tflite, {"origin": "early-bird", "width": width, "pruning": record})

    family = {
        "model": "digits",
        "description": "Handwritten digits (scikit-learn load_digits), 8x8 resized to 32x32, 10 classes",
        "input": {"shape": [1, IMAGE_SIZE, IMAGE_SIZE, 1], "dtype": "float32", "range": [0.0, 1.0]},
        "labels": LABELS,
        "eval": {
            "file": "eval.npz",
            "samples": len(y_eval),
            "split": "train_test_split(0.2, stratified, rs=0); training data: the other 80 %",
        },
        "training": {
            "seed": SEED,
            "batch": BATCH,
            "tensorflow": tf.__version__,
            "quick": args.quick,
            "separately_trained": {
                "widths": list(SEPARATE_WIDTHS),
                **SEPARATE,
                "optimizer": "adam, cosine decay",
                "batch_norm": False,
            },
            "once_for_all": {
                "max_width": MAX_WIDTH,
                "widths": list(WIDTHS),
                "phases": phases,
                "distillation": DISTILL,
                "optimizer": "adam, cosine decay per phase",
                "batch_norm": "recomputed per sub-network on the training data",
            },
            "early_bird": {
                "widths": list(EARLY_BIRD_WIDTHS),
                "ratios": list(EARLY_BIRD_RATIOS),
                **EARLY_BIRD,
            },
        },
        "models": models,
    }
    (args.out / "family.json").write_text(json.dumps(family, indent=2) + "\n")
    timings_path.write_text(json.dumps(timings, indent=2) + "\n")


if __name__ == "__main__":
    main()
