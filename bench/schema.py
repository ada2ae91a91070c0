"""The run schema: every key bench writes on an MLflow run beyond a method's own names, declared
once. A cell run is tagged with its names (``method``, ``dataset``, ``protocol``, ``class``,
``seed``, ``device``: the words of every table) and with these; ``tests/test_layout.py`` fails on
any of these keys typed as a string anywhere else in bench.
"""

# What a run is: one of the KIND_* values below.
KIND = "bench.kind"
STATUS = "bench.status"  # OK or FAILED, as the cell ended (a run's own status says how it was logged)
ERROR = "bench.error"  # a failed cell's one line
OWNER = "bench.tracking.owner"  # host:pid:start of the process that logged the run
NA = "bench.na"  # a sweep's n/a entries, JSON
STUDY = "bench.tune.study"  # a tune or trial run's study
TUNED_FROM = "bench.tuned_from"  # the study a tuned variant's parameters came from
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

# The values of KIND.
KIND_CELL, KIND_SWEEP, KIND_TUNE, KIND_TRIAL = "cell", "sweep", "tune", "trial"
KIND_CONFLICT = "conflict"  # an imported cell whose key this store holds with another result

# The keys (the kinds are values, and plain words elsewhere too).
DECLARED = {
    name: value
    for name, value in globals().items()
    if name.isupper() and isinstance(value, str) and not name.startswith("KIND_")
}
