"""Constructing and dropping samplers and results does not leak."""
import gc

import numpy as np

import pbit


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_dropped_samplers_do_not_leak():
    # Each sampler holds 1024 chains x 64 nodes of state (64 KiB): one leaked buffer a sampler would
    # grow 2000 of them by 128 MiB, far past the allowance.
    g = pbit.square_lattice(8)
    for _ in range(100):  # warm up allocator pools
        pbit.Sampler(g, chains=1024, seed=1)
    gc.collect()
    before = rss_bytes()
    for k in range(2000):
        s = pbit.Sampler(g, chains=1024, seed=k)
        s.sweep(1)
        del s
    gc.collect()
    grown = rss_bytes() - before
    assert grown < 8 * 2 ** 20, f"resident memory grew by {grown} bytes over 2000 samplers"


def test_result_arrays_are_freed_with_their_last_reference():
    g = pbit.square_lattice(8)
    s = pbit.Sampler(g, chains=256, seed=1)
    for _ in range(20):
        s.run(pbit.SamplingSchedule(0, 8, 1), snapshot_sweeps=list(range(1, 9)))  # 8 x 256 x 64 bytes each
    gc.collect()
    before = rss_bytes()
    for _ in range(2000):
        obs = s.run(pbit.SamplingSchedule(0, 8, 1), snapshot_sweeps=list(range(1, 9)))
        assert obs.snapshots.shape == (8, 256, 64)
        del obs
    gc.collect()
    assert rss_bytes() - before < 8 * 2 ** 20  # 2000 runs x 128 KiB of snapshots would be 256 MiB
    assert np.all(np.abs(s.state) == 1)


def test_dlpack_exports_are_freed_consumed_or_not():
    g = pbit.square_lattice(16)
    s = pbit.Sampler(g, chains=512, seed=1)  # 512 x 256 bytes = 128 KiB per export
    for _ in range(50):
        np.from_dlpack(s.state_dlpack())
    gc.collect()
    before = rss_bytes()
    for k in range(2000):
        if k % 2:
            a = np.from_dlpack(s.state_dlpack())  # consumed: freed with the array
            assert a.shape == (512, 256)
            del a
        else:
            s.state_dlpack().__dlpack__()  # a capsule never consumed: freed with the capsule
    gc.collect()
    assert rss_bytes() - before < 8 * 2 ** 20  # 2000 exports x 128 KiB would be 256 MiB
