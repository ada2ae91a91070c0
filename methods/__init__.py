"""Built-in methods; importing this package registers them."""

from bench.methods import ae_threshold, pyod_adapter

__all__ = ["ae_threshold", "pyod_adapter"]
