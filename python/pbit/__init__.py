"""pbit: simulate probabilistic computers (p-bits, Ising and Boltzmann machines) from Python.

The C++ core (multicolor block Gibbs on sparse graphs, thousands of chains, bit-identical on every
backend) with a numpy face:

    import numpy as np, pbit
    g = pbit.with_random_weights(pbit.random_regular(1000, 3, seed=1), 2, 0.5, 0.1)
    s = pbit.Sampler(g, chains=4096, backend=pbit.best_backend(), seed=42)
    s.set_clamp([0], [1])
    obs = s.run(pbit.SamplingSchedule(warmup=100, samples=100, steps_per_sample=2),
                beta=pbit.BetaSchedule.linear(0.1, 1.0, 100), moments=True)
    obs.node_mean[:2], obs.edge_corr[0]

Arrays come back as numpy arrays that own the results (no copy). Errors are pbit.Error and its
subclasses (InvalidArgument, InvalidGraph, ... also ValueError where the input was bad). docs/PYTHON.md.
"""
try:  # (the module's arrays are numpy's: without it, its import failed saying "initialization failed")
    import numpy as _numpy  # noqa: F401
except ImportError as _e:
    raise ImportError("pbit needs numpy in this Python (" + __import__("sys").executable + "): " + str(_e) +
                      " (pip install numpy, or Debian's python3-numpy)") from _e
del _numpy
from ._pbit import (  # noqa: F401
    _run_command,
    BetaSchedule,
    Coloring,
    ConfigMismatch,
    CudaError,
    Error,
    Graph,
    InvalidArgument,
    InvalidColoring,
    InvalidConfig,
    InvalidGraph,
    IoError,
    NotCompiled,
    Observations,
    Roles,
    OutOfMemory,
    Sampler,
    SamplingSchedule,
    StateArray,
    TemperedSampler,
    Topology,
    __version__,
    backend_unavailable_reason,
    backends,
    best_backend,
    color_graph,
    git_sha,
    place_roles,
    random_regular,
    read_graph_file,
    role_distances,
    square_lattice,
    topology,
    with_random_weights,
)



def _progress_printer(label):
    """The status line of progress=True: redrawn in place on sys.stderr, at most 4 times a second."""
    import sys
    import time

    t0 = time.monotonic()
    last = [-1.0]
    open_line = [False]  # a status line is drawn and not yet ended

    def write(text):
        err = sys.stderr  # None under pythonw and some daemons: then there is nothing to draw on
        if err is None:
            return
        try:
            err.write(text)
            err.flush()
        except Exception:  # a stream without flush, closed, gone, or a replacement that raises: progress never ends a run
            pass

    def end():
        """Ends a status line cut short (Ctrl-C), so that the traceback starts on a line of its own."""
        if open_line[0]:
            open_line[0] = False
            write("\n")

    def show(done, total):
        now = time.monotonic()
        if done < total and now - last[0] < 0.25:
            return
        last[0] = now
        width = 24
        fill = width * done // total if total else width
        elapsed = now - t0
        eta = elapsed * (total - done) / done if done else 0.0
        open_line[0] = done < total
        write(f"\r{label} [{'#' * fill}{'.' * (width - fill)}] {done}/{total} sweeps, "
              f"elapsed {elapsed:.0f}s eta {eta:.0f}s" + ("\n" if done >= total else ""))

    show.end = end
    return show


def _io_error(message, errno, strerror, filename, cls=IoError):
    e = cls(message)
    e.errno, e.strerror, e.filename = errno, strerror, filename
    return e


def _io_error_reduce(self):
    # OSError pickles its args only: an IoError from a multiprocessing worker would lose its errno,
    # strerror and filename on the way back. Its class too: pbit.IoError.FileNotFoundError and the
    # other subclasses by errno (see docs/PYTHON.md).
    return (_io_error, (self.args[0] if self.args else "", self.errno, self.strerror, self.filename, type(self)))


IoError.__reduce__ = _io_error_reduce


def _pickle_every_protocol():
    """Pickling a pbit object at protocol 0 or 1, or calling obj.__reduce__(), went through
    copyreg._reduce_ex, which calls pybind11's base class on the object: pybind11 throws a C++
    exception through C code there, and the interpreter aborted (helper-110). Those calls take
    protocol 2's route instead (__getstate__ / __setstate__), which every protocol loads; a class
    without pickle support (Sampler, TemperedSampler, StateArray) raises TypeError, as protocol 2 does."""
    import copyreg

    from . import _pbit

    def reduce_ex(self, protocol):
        return object.__reduce_ex__(self, max(int(protocol), 2))  # (which calls reduce below)

    def reduce(self):
        return (copyreg.__newobj__, (type(self),), self.__getstate__())

    def refuse(self, *protocol):
        raise TypeError(f"cannot pickle '{type(self).__module__}.{type(self).__qualname__}' object")

    for cls in vars(_pbit).values():
        if isinstance(cls, type) and type(cls).__name__ == "pybind11_type":
            picklable = "__setstate__" in vars(cls)
            cls.__reduce_ex__, cls.__reduce__ = (reduce_ex, reduce) if picklable else (refuse, refuse)


_pickle_every_protocol()


def cli(*args, check=True):
    """Runs a `pbit` command in this process, e.g. pbit.cli("dbm", "train", "--config", "c.json").

    Every command of the CLI (docs/CLI.md), with the same configs, outputs and progress on stderr:
    the model families' train / eval / generate, sample, compare. Config arguments may be dicts
    (written to a temporary JSON file). pbit errors raise pbit.Error subclasses with the message;
    with check=True a bad option (exit code 2) raises pbit.InvalidArgument with the message too,
    and with check=False it returns 2.
    Returns the exit code. Releases the GIL while the command runs; Ctrl-C raises
    KeyboardInterrupt at the command's next progress update (a training batch, an evaluation
    piece), leaving the checkpoints it already wrote, as a killed process would.
    """
    import json
    import numbers
    import os
    import tempfile

    def as_json(o):  # numpy scalars and arrays, as their Python values
        if hasattr(o, "tolist"):
            return o.tolist()
        raise TypeError(f"{type(o).__name__} values are not JSON")

    argv, temps = [], []
    try:
        for i, a in enumerate(args):
            if isinstance(a, dict):
                fd, path = tempfile.mkstemp(suffix=".json", prefix="pbit_config_")
                temps.append(path)  # removed below even when json.dump fails on the dict
                with os.fdopen(fd, "w") as f:
                    try:  # NaN and infinity are not JSON: the reader would name a removed temporary file
                        json.dump(a, f, allow_nan=False, default=as_json)
                    except (TypeError, ValueError) as e:
                        raise InvalidConfig(f"pbit.cli: argument {i + 1} (a config dict) cannot be written as JSON: {e}") from None
                a = path
            if isinstance(a, bytes) or hasattr(a, "__fspath__"):  # a path or bytes name, not str()'s "b'...'"
                a = os.fsdecode(a)
            # Numbers are written as the command line would; anything else (None, a bool, a list)
            # would become its repr: "--out None" writing a file named None.
            if isinstance(a, bool) or not isinstance(a, (str, numbers.Real)):
                raise TypeError(f"pbit.cli: argument {i + 1} is {type(a).__name__} {a!r}; give strings, paths, numbers or config dicts")
            argv.append(str(a))
        code = _run_command([os.fsencode(a) for a in argv], check)  # a file name need not be UTF-8
    finally:
        for path in temps:
            os.unlink(path)
    if check and code != 0:
        raise InvalidArgument("pbit " + " ".join(argv) + f": exit code {code} (its output above says why)")
    return code


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("annotations",)]
