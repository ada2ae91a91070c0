"""Where a tune study lives: its name, its Optuna storage, and the best parameters it saved.

One Optuna study per (method, dataset, protocol, classes, seed), stored in
SQLite under ``results/`` so that a killed study resumes where it stopped
(an RDB or journal URL with ``--storage`` when several machines share it).
Heartbeats mark a trial whose process died as failed (and retry it once).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import TuneConfig
from bench.data.protocol import protocol_label
from bench.errors import BenchError
from bench.tracking.sqlite import create_whole, sqlite_uri, store_lock

HEARTBEAT_S = 10  # a trial whose process died is marked failed (and retried once) after 3 missed beats


@dataclass(frozen=True)
class Best:
    """A study's best parameters, as saved to ``results/tuned/STUDY.json``."""

    method: str
    study: str
    params: dict[str, Any]
    value: float
    default_value: float | None = None
    trials: int = 0


def study_name(cfg: TuneConfig) -> str:
    """``METHOD.DATASET.PROTOCOL.cCLASSES.sSEED``; the protocol carries its non-default settings
    (``open-set[known=0,1,2_labels=30]``), so studies under other settings never share trials."""
    classes = "all" if cfg.classes is None else "-".join(map(str, cfg.classes))
    protocol = protocol_label(cfg.protocols[0], cfg.protocol_options()).replace(" ", "_")
    return cfg.study or f"{cfg.method}.{cfg.datasets[0]}.{protocol}.c{classes}.s{cfg.seed}"


def best_path(results: Path, study: str) -> Path:
    return results / "tuned" / f"{study}.json"


def load_best(spec: str, results: Path) -> Best:
    """The saved best parameters named by a JSON file path or by a study name."""
    path = Path(spec) if spec.endswith(".json") else best_path(results, spec)
    if not path.is_file():
        raise BenchError(f"--params-from {spec}: no {path}; run `python -m bench tune` first")
    try:
        data = json.loads(path.read_text())
        best = Best(**data)
    except (json.JSONDecodeError, TypeError) as exc:
        raise BenchError(f"--params-from {spec}: {path} is not a saved study result ({exc})") from None
    best.params.update({k: tuple(v) for k, v in best.params.items() if isinstance(v, list)})
    return best


def storage(url: str) -> Any:
    import optuna

    if url.startswith(("sqlite", "postgresql", "mysql")):
        # One process creates and migrates a fresh store; heartbeats are "experimental" in Optuna.
        with store_lock(url), warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            create_whole(url, _create_optuna)  # an interrupt leaves no half-made optuna.db
            return optuna.storages.RDBStorage(
                url,
                heartbeat_interval=HEARTBEAT_S,
                grace_period=3 * HEARTBEAT_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
            )
    if url.endswith((".log", ".journal")):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url))
    raise BenchError(
        f"--storage takes sqlite:///, postgresql:// or mysql:// URLs or a .log journal file, not {url!r}"
    )


def _create_optuna(path: Path) -> None:
    import optuna

    optuna.storages.RDBStorage(sqlite_uri(path)).engine.dispose()  # its tables, committed


def storage_url(cfg: TuneConfig) -> str:
    return cfg.storage or sqlite_uri(Path(cfg.results) / "optuna.db")


def open_study(cfg: TuneConfig, name: str, worker: int = 0) -> Any:
    """The stored study, with this worker's sampler (seeded apart, so workers do not propose alike)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        storage=storage(storage_url(cfg)),
        study_name=name,
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=cfg.seed + 1000 * worker),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
    )


COUNTED = ("COMPLETE", "PRUNED")


def counted(study: Any) -> int:
    import optuna

    return len(study.get_trials(deepcopy=False, states=[optuna.trial.TrialState[s] for s in COUNTED]))
