"""Open-set answers of a fitted method: classify known classes with few labels, reject the unknown.

A method with its own classifier (``predict_classes``) answers directly. For
the others the head trains, with a copy of the method's encoder where it
offers one (``encoder``) or else on its frozen ``features``, on validation's
labeled known-class images only (never on test); the fitted method itself is
not changed, so its anomaly scores stay those of the unsupervised fit.
Metrics on a test set: classification accuracy and macro-F1 over its
known-class images; accuracy over the known images the detector accepts
(seed 001's figure after removing detected outliers); accuracy on the labeled
set, which a head trains on and a method's own classifier may have learned
from (seed 000's "89/100" is this kind of figure: a sample of its labeled
set), a check of fit, not a result; and the seed-001 report over 5 known
classes + "unknown", where an image is "unknown" when its anomaly score
exceeds the method's threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.contract.method import Env, Method
from bench.data.dataset import Split
from bench.scoring.heads import HEADS, train_head
from bench.scoring.metrics import macro_f1, per_class

UNKNOWN = -1


def classify(
    method: Method, split: Split, scores: np.ndarray, threshold: float | None, env: Env
) -> tuple[dict[str, float], pd.DataFrame] | None:
    """Metrics and the per-class report, or None for a method without an encoder."""
    labeled = split.val.anomaly == 0
    known = sorted(int(c) for c in np.unique(split.val.classes[labeled]))
    predicted = method.predict_classes(split.test.x)
    if predicted is not None:
        on_labeled = method.predict_classes(split.val.x[labeled])
    else:
        spec = HEADS[method.head]
        encoder = method.encoder() if spec.fine_tune else None
        position = {c: i for i, c in enumerate(known)}
        targets = np.array([position[int(c)] for c in split.val.classes[labeled]])
        if encoder is not None:  # the encoder trains with the head, on images
            head = train_head(spec, split.val.x[labeled], targets, len(known), env.seed, env.device, encoder)
            guess, guess_labeled = head.predict(split.test.x), head.predict(split.val.x[labeled])
        else:
            train_features = method.features(split.val.x[labeled])
            if train_features is None:
                return None
            head = train_head(spec, train_features, targets, len(known), env.seed, env.device)
            guess, guess_labeled = head.predict(method.features(split.test.x)), head.predict(train_features)
        output_class = np.array([*known, UNKNOWN])  # a head's output K is "unknown"
        predicted, on_labeled = output_class[guess], output_class[guess_labeled]
    is_known = split.test.anomaly == 0
    truth = np.where(is_known, split.test.classes, UNKNOWN)
    metrics = {
        "class_accuracy": float(np.mean(predicted[is_known] == truth[is_known])),
        "class_macro_f1": macro_f1(truth[is_known], predicted[is_known], known),
        "n_labeled": float(labeled.sum()),
        "class_accuracy_labeled": float(np.mean(on_labeled == split.val.classes[labeled])),
    }
    final = predicted
    if threshold is not None:
        flagged = scores > threshold
        accepted = is_known & ~flagged
        metrics["class_accuracy_accepted"] = float(np.mean(predicted[accepted] == truth[accepted]))
        final = np.where(flagged, UNKNOWN, predicted)
    labels = [*known, UNKNOWN]
    metrics["open_set_accuracy"] = float(np.mean(final == truth))
    metrics["open_set_macro_f1"] = macro_f1(truth, final, labels)
    rows = [
        {"class": "unknown" if c == UNKNOWN else str(c), **vars(s)}
        for c, s in per_class(truth, final, labels).items()
    ]
    rows.append({"class": "accuracy", "f1": metrics["open_set_accuracy"], "support": len(truth)})
    return metrics, pd.DataFrame(rows)
