"""Built-in methods, one file each; bench finds every module here (``bench.registry``)."""
