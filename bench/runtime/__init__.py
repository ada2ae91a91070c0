"""Where cells and trials run: worker processes made ready, the cores they share, Ray; what both a
sweep (``bench.sweep``) and a study (``bench.tuning``) start their work on."""
