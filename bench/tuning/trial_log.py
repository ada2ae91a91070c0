"""Tune trials as MLflow runs, nested under the study's tune run, written by the driver alone."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench import schema
from bench.contract.space import decode
from bench.tracking.tags import KIND_TRIAL
from bench.tracking.tracker import Tracker
from bench.tuning.objective import TuneSetup


class TrialLogger:
    """Logs each finished trial of a study once, as an MLflow run nested under the tune run.

    It reads the trials from the Optuna storage, so trials run by other
    processes are logged by the driver too: only the driver writes to MLflow.
    """

    def __init__(self, tracker: Tracker, study: Any, name: str, parent: str, setup: TuneSetup) -> None:
        self.tracker, self.study, self.name, self.parent, self.setup = tracker, study, name, parent, setup
        self.logged = tracker.runs.trial_numbers(name)

    def __call__(self, *_: Any) -> None:
        states = {"COMPLETE": "COMPLETE", "PRUNED": "PRUNED", "FAIL": "FAILED"}
        for trial in self.study.get_trials(deepcopy=False):
            if trial.number in self.logged or trial.state.name not in states:
                continue
            state = states[trial.state.name]
            per_class = trial.user_attrs.get("per_class", {})
            error = trial.user_attrs.get("error", "")
            if state == "FAILED" and not error:
                error = "no heartbeat: the process running this trial died"
            self.tracker.log_run(
                name=f"trial {trial.number}",
                tags={
                    schema.KIND: KIND_TRIAL,
                    schema.STUDY: self.name,
                    schema.PARENT_RUN: self.parent,
                    schema.TRIAL: str(trial.number),
                    schema.TRIAL_STATE: state,
                    schema.WORKER: str(trial.user_attrs.get(schema.WORKER, "")),
                    **({schema.ERROR: error} if error else {}),
                },
                params={**self.setup.spec.settings, **decode(self.setup.space, trial.params)},
                metrics={
                    schema.VAL_AUROC: float(np.mean(list(per_class.values()))) if per_class else float("nan"),
                    **per_class,
                    schema.TRIAL_SECONDS: trial.user_attrs.get("seconds", float("nan")),
                },
                status="FAILED" if state == "FAILED" else "FINISHED",
            )
            self.logged.add(trial.number)
