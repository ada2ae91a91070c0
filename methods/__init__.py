"""Built-in methods; importing this package registers them."""

from bench.methods import (
    ae_kde,
    ae_threshold,
    cnn_weighted,
    deep_svdd,
    dn2,
    gan_abc,
    geom,
    pyod_adapter,
    vae_cluster,
    vae_elbo,
)

__all__ = [
    "ae_kde",
    "ae_threshold",
    "cnn_weighted",
    "deep_svdd",
    "dn2",
    "gan_abc",
    "geom",
    "pyod_adapter",
    "vae_cluster",
    "vae_elbo",
]
