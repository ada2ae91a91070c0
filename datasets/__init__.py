"""Built-in datasets, one file per source; bench finds every module here (``bench.registry``)."""
