"""The run schema: every key bench writes on an MLflow run beyond a method's own names and the
metrics ``bench.scoring.metrics.METRICS`` declares, declared once. Tags and params are text in
MLflow; the comment beside a key says what its text holds where that is not a word. A cell run is
also tagged with its names (``WORDS``: the words of every table, plain words elsewhere too).
``tests/test_layout.py`` fails on any of these keys typed as a string anywhere else in bench.
"""

# What a run is: one of the KIND_* values below.
KIND = "bench.kind"
STATUS = "bench.status"  # OK or FAILED, as the cell ended (a run's own status says how it was logged)
ERROR = "bench.error"  # a failed cell's one line
OWNER = "bench.tracking.owner"  # host:pid:start of the process that logged the run
NA = "bench.na"  # a sweep's n/a entries, JSON
STUDY = "bench.tune.study"  # a tune or trial run's study
TUNED_FROM = "bench.tuned_from"  # the study a tuned variant's parameters came from
FAST_KERNELS = "bench.fast_kernels"  # "true" where the cell asked for bench's own CPU kernels
SOURCE_RUN = "bench.source_run"  # an imported run's id in the store it was exported from
BUNDLE = "bench.bundle"  # the bundle an imported run came in
CELL_KEY = "cell_key"  # the cell's resume key: the hash of its identity
SWEEP_ID = "sweep_id"  # the sweep that logged the run
DATA_DIGEST = "data_digest"  # the digest of the dataset's pixels and labels the cell read
METHOD_LABEL = "method_label"  # the method with its non-default settings, as tables name it
PROTOCOL_LABEL = "protocol_label"  # the protocol with its non-default options
PROTOCOL_VERSION = "protocol_version"  # the version of the protocol's rules that made the split
NORMAL_CLASS = "normal_class"  # what is normal, in the protocol's words
THRESHOLD_SOURCE = "threshold_source"  # where the method's own threshold came from
TUNED_THRESHOLD_SOURCE = "tuned_threshold_source"  # where --threshold tuned's came from
PRETRAINED = "pretrained"  # the outside data a method's weights saw
PLUGIN = "plugin"  # the third-party package (and version) that registered the method
TRIAL = "trial"  # a trial run's number in its study
TRIAL_STATE = "trial_state"  # how the trial ended
WORKER = "worker"  # which of tune's workers ran the trial

# Provenance tags (``bench.sweep.provenance``, ``bench.nets.device``): the software and machine.
ENV_BENCH = "env.bench"  # bench's version
ENV_BENCH_COMMIT = "env.bench_commit"  # the checkout's commit, where bench ran from one
ENV_BENCH_DIRTY = "env.bench_dirty"  # "true" where tracked files differed from that commit
ENV_PYTHON, ENV_TORCH, ENV_CUDA, ENV_NUMPY = "env.python", "env.torch", "env.cuda", "env.numpy"
ENV_LIBRARY = "env."  # + a library's name (env.pyod, env.mlflow, ...): its version
ENV_CPU, ENV_DEVICE = "env.cpu", "env.device"
ENV_GPU, ENV_GPU_MEMORY = "env.gpu", "env.gpu_memory_gib"  # the GPU's name and its memory in GiB
ENV_DETERMINISTIC = "env.deterministic_algorithms"  # "true" or "false"
ENV_THREADS = "env.threads"  # torch's intra-op threads: sums over more threads round differently
ENV_CUDNN_DETERMINISTIC, ENV_CUDNN_BENCHMARK = "env.cudnn_deterministic", "env.cudnn_benchmark"

# A cell run's params beside its method's hyperparameters (and the split's sizes, ``Sizes.params``).
DATA_SOURCE = "data.source"  # where the dataset's files came from
DATA_CHECKSUMS = "data.checksums"  # their sha256, JSON
PROTOCOL_PREFIX = "protocol."  # + an option: the protocol's settings the split was made with
TUNED_PREFIX = "tuned."  # + a parameter: what --threshold tuned chose on validation data
FEATURES = "features"  # "computed" or "cached": the frozen features' cache
FEATURES_SECONDS = "features.seconds"  # the time to compute them, shared by the cells that read them
CONFIG = "config"  # a sweep run's configuration, JSON
NOT_HYPERPARAMETER_PREFIXES = ("data.", PROTOCOL_PREFIX, TUNED_PREFIX, FEATURES)

# Metrics logged beside the declared ones (seconds are wall-clock seconds).
FIT_SECONDS, SCORE_SECONDS = "fit_seconds", "score_seconds"  # a cell's fit; its scoring of the test split
TUNE_SECONDS = "tune_seconds"  # --threshold tuned's search
TUNED_VAL_F1 = "tuned_val_f1"  # the F1 that search reached on validation data
VAL_AUROC = "val_auroc"  # AUROC on validation data (a trial: its mean over classes): what to choose by
WALL_SECONDS = "wall_seconds"  # a sweep run's wall-clock time
CELLS_OK, CELLS_FAILED, CELLS_SKIPPED = "cells_ok", "cells_failed", "cells_skipped"  # a sweep run's counts
TRIAL_SECONDS = "trial_seconds"  # a trial's fit and score

# MLflow's own keys bench writes: a run's name and parent; an experiment's kind (the UI's
# model-training view, not GenAI traces), its description (markdown on its page), its shared views.
RUN_NAME, PARENT_RUN = "mlflow.runName", "mlflow.parentRunId"
EXPERIMENT_KIND, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"
DESCRIPTION = "mlflow.note.content"
SHARED_VIEW_PREFIX = "mlflow.sharedViewState."  # + a share key: the view ?viewStateShareKey= loads
MLFLOW_PREFIX = "mlflow."  # every key of MLflow's own

# The values of KIND.
KIND_CELL, KIND_SWEEP, KIND_TUNE, KIND_TRIAL = "cell", "sweep", "tune", "trial"
KIND_CONFLICT = "conflict"  # an imported cell whose key this store holds with another result

# The names a cell run is tagged with: the words of every table (columns, flags, folder names too).
METHOD, DATASET, PROTOCOL, CLASS, SEED, DEVICE = "method", "dataset", "protocol", "class", "seed", "device"
WORDS = (METHOD, DATASET, PROTOCOL, CLASS, SEED, DEVICE, FEATURES)

# The keys no other file types (the kinds are values, the words plain words elsewhere too).
DECLARED = {
    name: value
    for name, value in globals().items()
    if name.isupper() and isinstance(value, str) and not name.startswith("KIND_") and value not in WORDS
}
