"""Tuning with Optuna on validation data: studies, the trial objective, trial logs, tune workers."""
