"""Every built-in protocol's splits on digits, hashed: a change to any split must bump that
protocol's ``version``, since cells of two versions measure two different things."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from bench.data.protocol import protocol_info, protocol_units, split_indices
from bench.registry import PROTOCOLS

# protocol -> (version, sha256 of its splits of digits, every class, seeds 0 and 1). Update both
# together: bump the version in the protocol's file, then record the hash the failure prints.
RECORDED = {
    "balanced": (1, "1a22171e40b5b24f9317b2c52083d5bb8c252649e5ce9b66cbfab71060381cdd"),
    "leave-one-out": (1, "2c72ec99aac625cc190894cedfffac3d85b1bbf58a22a0dfdc2761e14ac00108"),
    "one-class": (1, "e35bafa2cc448c471640d7afc9a3ec68ed70474401a9ae184b6de560449bd638"),
    "open-set": (1, "32f324f30a66140008d61750fd16033aab2ce04763325b7d4f4494eaacf6ee8e"),
    "own-split": (1, "ddd7e1e167c677178bd848aaaab10797303cdf97556ade80f064a9b259f864d0"),
    "supervised": (1, "f36224b59e3b847dca197e4d3b2b4b4d2bd3ce65aeed0e57f8847f4ae700413b"),
}
BUILT_IN = sorted(
    name for name in PROTOCOLS.names() if PROTOCOLS.get(name)[1].__module__.startswith("bench.protocols.")
)


def split_hash(dataset, protocol: str) -> str:
    digest = hashlib.sha256()
    for k in protocol_units(protocol_info(protocol), dataset.n_classes):
        for seed in (0, 1):
            for index, labels in split_indices(dataset, protocol, k, seed):
                for array in (index, labels):
                    digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def own_split_digits(digits):
    """Digits with a split of their own (every third test image anomalous), as defect datasets bring."""
    anomalous = np.arange(len(digits.y_test)) % 3 == 0
    return dataclasses.replace(digits, name="digits-own", test_anomaly=anomalous)


def test_every_built_in_protocol_has_a_recorded_split_hash():
    assert sorted(RECORDED) == BUILT_IN, "record (version, hash) for each built-in protocol in RECORDED"


@pytest.mark.parametrize("protocol", sorted(RECORDED))
def test_a_changed_split_comes_with_a_new_protocol_version(digits, own_split_digits, protocol):
    data = own_split_digits if protocol_info(protocol).own_split else digits
    now = (protocol_info(protocol).version, split_hash(data, protocol))
    version, recorded = RECORDED[protocol]
    assert now[0] != version or now[1] == recorded, (
        f"{protocol}'s splits changed while its version stayed {version}: set version={version + 1} in "
        f"its register_protocol and record ({version + 1}, {now[1]!r}) here"
    )
    assert now == (version, recorded), f"record {protocol}'s new version and hash here: {now}"
