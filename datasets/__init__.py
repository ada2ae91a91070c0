"""Built-in datasets; importing this package registers them."""

from bench.datasets import digits, idx_files, mnist_5k, user_images

__all__ = ["digits", "idx_files", "mnist_5k", "user_images"]
