#!/usr/bin/env python3
"""Converts the FPGA-trained sparse DBM of Niazi et al. (Nature Electronics 2024) into a pbit model.

The paper's public code (github.com/OPUSLab/SparseDeepBoltzmannMachines, GPL) keeps the weights of
every training epoch as MATLAB files: Outputs/Jout_<epoch>.mat (the 4264 x 4264 coupling matrix),
Outputs/hout_<epoch>.mat (biases), index_visible.mat (784 visible p-bits, column-major pixel order,
1-based) and index_sticker1..5.mat (five label replicas of ten p-bits each). This script reads them
from a git clone (--git-dir, e.g. the search tool's fetch of that repository) or a checkout (--dir),
writes the text files that `pbit dbm import` reads, and runs it:

    /usr/bin/python3 scripts/prepare_golden.py --git-dir <clone>/.git --epoch 100 --out data/golden

Everything goes to data/golden/ (git-ignored): the weights are GPL and are never committed. The
device job dbm_golden (scripts/device_models.sh) carries data/golden/model.json to the GPU.

The test procedure of main_test.m is reproduced by the config configs/dbm_golden.json: pixels > 0
are +1 (ceil(x / 255)), the update is s = sign(tanh(beta x) - r) = pbit's sigmoid(2 beta x), and the
label read-out averages the five replicas of each class.

Needs numpy and scipy (Debian: python3-scipy) for the MATLAB files.
"""
import argparse
import io
import os
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--git-dir", help="git directory of a clone of OPUSLab/SparseDeepBoltzmannMachines")
    src.add_argument("--dir", help="a checkout of that repository")
    ap.add_argument("--epoch", type=int, default=100, help="training epoch whose weights to take (1..100)")
    ap.add_argument("--out", default="data/golden")
    ap.add_argument("--pbit", default="build/release/pbit")
    a = ap.parse_args()
    try:
        import numpy as np
        import scipy.io as sio
    except ImportError:
        sys.exit("prepare_golden: needs numpy and scipy (Debian: apt-get install python3-scipy; run with /usr/bin/python3)")
    if not 1 <= a.epoch <= 100:
        sys.exit("prepare_golden: --epoch must be 1..100")

    def load(name):
        if a.git_dir:
            r = subprocess.run(["git", "--git-dir", a.git_dir, "show", "HEAD:" + name], capture_output=True)
            if r.returncode != 0:
                sys.exit("prepare_golden: %s not in %s: %s" % (name, a.git_dir, r.stderr.decode().strip()))
            data = io.BytesIO(r.stdout)
        else:
            path = os.path.join(a.dir, name)
            if not os.path.exists(path):
                sys.exit("prepare_golden: %s not found" % path)
            data = path
        m = {k: v for k, v in sio.loadmat(data).items() if not k.startswith("__")}
        if len(m) != 1:
            sys.exit("prepare_golden: %s holds %d variables, expected one" % (name, len(m)))
        return next(iter(m.values()))

    J = np.asarray(load("Outputs/Jout_%d.mat" % a.epoch), dtype=np.float64)
    h = np.asarray(load("Outputs/hout_%d.mat" % a.epoch), dtype=np.float64).ravel()
    vis = np.asarray(load("index_visible.mat")).ravel().astype(np.int64) - 1
    stickers = [np.asarray(load("index_sticker%d.mat" % r)).ravel().astype(np.int64) - 1 for r in range(1, 6)]
    n = J.shape[0]
    if J.shape != (n, n) or h.size != n or vis.size != 784 or any(s.size != 10 for s in stickers):
        sys.exit("prepare_golden: unexpected shapes J %s, h %d, visible %d, labels %s" % (J.shape, h.size, vis.size,
                                                                                         [s.size for s in stickers]))
    asym = np.abs(J - J.T).max()
    if asym > 1e-9:
        sys.exit("prepare_golden: the coupling matrix is not symmetric (max |J - J^T| = %g)" % asym)
    if np.abs(np.diag(J)).max() != 0:
        sys.exit("prepare_golden: the coupling matrix has a non-zero diagonal")
    os.makedirs(a.out, exist_ok=True)
    iu, ju = np.nonzero(np.triu(J, 1))
    with open(os.path.join(a.out, "edges.txt"), "w") as f:
        f.write("# Niazi et al. 2024, FPGA-trained sparse DBM, epoch %d (OPUSLab/SparseDeepBoltzmannMachines, GPL)\n" % a.epoch)
        f.write("nodes %d\n" % n)
        for i, j in zip(iu, ju):
            f.write("%d %d %.9g\n" % (i, j, J[i, j]))
    with open(os.path.join(a.out, "biases.txt"), "w") as f:
        f.writelines("%.9g\n" % x for x in h)
    with open(os.path.join(a.out, "visible.txt"), "w") as f:  # column-major pixel order, as processImagesMNIST
        f.writelines("%d\n" % i for i in vis)
    with open(os.path.join(a.out, "labels.txt"), "w") as f:  # class-major: class c, replica r at line 5 c + r
        f.writelines("%d\n" % stickers[r][c] for c in range(10) for r in range(5))
    print("prepare_golden: epoch %d: %d p-bits, %d couplings (|J| max %.3g), biases |h| max %.3g" % (
        a.epoch, n, iu.size, np.abs(J).max(), np.abs(h).max()))
    model = os.path.join(a.out, "model.json")
    cmd = [a.pbit, "dbm", "import", "--edges", os.path.join(a.out, "edges.txt"), "--biases", os.path.join(a.out, "biases.txt"),
           "--visible", os.path.join(a.out, "visible.txt"), "--labels", os.path.join(a.out, "labels.txt"), "--rows", "28",
           "--cols", "28", "--replicas", "5", "--pixel-order", "col", "--label-order", "class", "--out", model]
    subprocess.run(cmd, check=True)
    print("prepare_golden: wrote %s" % model)


if __name__ == "__main__":
    main()
