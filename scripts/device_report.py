#!/usr/bin/env python3
"""The report of a device job (scripts/device_models.sh), rebuilt from its committed results.

    python3 scripts/device_report.py bench/results/device_jobs/dbm_mnist          # README.md and plots
    python3 scripts/device_report.py --check 2 <job dir>                         # the dry run's check

A job directory holds state/ (what the next lease continues from) and lease_<n>/ (each lease's
outputs). This writes README.md (where the job stands, with total training time and flips across all
leases) and, for training jobs, time_to_accuracy.{dat,gp,png} (test accuracy, or feature-FID, against
cumulative training time and flips; gnuplot draws the PNG when it is installed).
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def lease_dirs(job_dir, numbered_only=False):
    """The job's lease_<n> folders in lease order (lease_10 after lease_9), then collect's
    lease_partial-<time> ones (a lease that did not record its number), unless numbered_only."""
    named = [(os.path.basename(d)[len("lease_"):], d) for d in glob.glob(os.path.join(job_dir, "lease_*"))]
    numbered = sorted((int(n), d) for n, d in named if n.isdigit())
    partial = [] if numbered_only else sorted(d for n, d in named if not n.isdigit())
    return [d for _, d in numbered] + partial


def units_table(units, what):
    """Accuracy per sweep budget from finished evaluation slices (correct counts add up)."""
    by = {}
    for u in units:
        b = by.setdefault(u["sweeps_per_image"], {"correct": 0, "images": 0, "slices": 0, "wall_s": 0.0, "chains": u.get("chains")})
        b["correct"] += u["correct"]
        b["images"] += u["test_images"]
        b["slices"] += 1
        b["wall_s"] += u.get("eval_wall_s", 0.0)
    lines = ["| %s sweeps per image | chains | test images done | accuracy | eval seconds |" % what, "|---:|---:|---:|---:|---:|"]
    for s in sorted(by):
        b = by[s]
        lines.append("| %d | %s | %d | %.4f | %.0f |" % (s, b["chains"], b["images"], b["correct"] / max(b["images"], 1), b["wall_s"]))
    return lines, by


def plot(job_dir, name, rows, columns, ylabel, groups=None):
    """rows: tuples (x seconds, x flips, y); groups: one label per row (a line each), or None.
    Writes NAME.dat/.gp and, with gnuplot, NAME.png."""
    labels = []
    for g in groups or [ylabel] * len(rows):
        if g not in labels:
            labels.append(g)
    dat = os.path.join(job_dir, name + ".dat")
    with open(dat, "w") as f:
        f.write("# " + " ".join(columns) + "\n")
        for k, label in enumerate(labels):
            if k:
                f.write("\n\n")
            f.write("# %s\n" % label)
            for r, g in zip(rows, groups or [ylabel] * len(rows)):
                if g == label:
                    f.write(" ".join(str(x) for x in r) + "\n")
    titles = " ".join('"%s"' % l for l in labels)
    gp = os.path.join(job_dir, name + ".gp")
    with open(gp, "w") as f:
        f.write('set terminal pngcairo size 1000,420 noenhanced\nset output "%s.png"\nset multiplot layout 1,2\n' % name)
        f.write('set grid\nset key outside bottom center horizontal\nset ylabel "%s"\nlabels = \'%s\'\n' % (ylabel, titles))
        f.write('set xlabel "training seconds (all leases)"\n'
                'plot for [i=1:words(labels)] "%s.dat" index (i-1) using 1:3 with linespoints pt 7 title word(labels, i)\n' % name)
        f.write('set xlabel "training flips (all leases)"\nset logscale x\n'
                'plot for [i=1:words(labels)] "%s.dat" index (i-1) using 2:3 with linespoints pt 7 title word(labels, i)\n' % name)
        f.write("unset multiplot\n")
    if shutil.which("gnuplot") and rows:
        subprocess.run(["gnuplot", name + ".gp"], cwd=job_dir, check=False, stderr=subprocess.DEVNULL)


def report(job_dir):
    job = os.path.basename(os.path.normpath(job_dir))
    state = os.path.join(job_dir, "state")
    meta = load(os.path.join(state, "job.json"), {"leases": 0})
    leases_dirs = lease_dirs(job_dir)
    out = ["# Device job %s: %d lease(s)" % (job, meta["leases"]), ""]
    if job.startswith("dbm_") and job != "dbm_golden":
        leases = load(os.path.join(state, "leases.json"), [])
        if leases:
            last = leases[-1]
            out += ["Training %s after %d updates, %.1f s and %.3g flips of training over %d lease(s); test accuracy after the last lease %.4f (%d images, %d sweeps per image)."
                    % ("finished" if last.get("finished") else "continues", last["updates_to"], last["train_s_total"], last["flips_total"],
                       len(leases), last.get("test_accuracy", float("nan")), last.get("test_images", 0), last.get("eval_sweeps_per_image", 0)), ""]
            out += ["| lease | device | git | updates | training s (total) | flips (total) | test accuracy |", "|---:|---|---|---|---:|---:|---:|"]
            for l in leases:
                out.append("| %d | %s | %s | %d-%d | %.1f | %.3g | %s |" % (l["lease"], l.get("device", "?"), l.get("git_sha", "?")[:12], l["updates_from"],
                                                                      l["updates_to"], l["train_s_total"], l["flips_total"],
                                                                      "%.4f" % l["test_accuracy"] if "test_accuracy" in l else "-"))
            rows = [(l["train_s_total"], l["flips_total"], l["test_accuracy"]) for l in leases if "test_accuracy" in l]
            plot(job_dir, "time_to_accuracy", rows, ["train_s_total", "flips_total", "test_accuracy"], "test accuracy")
            out += ["", "Accuracy against training time and flips: `time_to_accuracy.png` (data in `.dat`)."]
        curve = load(os.path.join(state, "curve.json"), [])
        if curve:
            lines, _ = units_table(curve, "inference")
            out += ["", "Accuracy against inference sweeps per image (the trained model, all test images in slices):", ""] + lines
    elif job == "dbm_golden":
        units = load(os.path.join(state, "golden.json"), [])
        lines, _ = units_table(units, "inference")
        out += ["The FPGA-trained DBM of Niazi et al. 2024 (epoch 100), one chain per test image, label replicas read every 200 sweeps; slices of the 10,000 test images finish one by one across leases.", ""] + lines
    elif job == "dtm_g12":
        out += ["| variant | leases | epochs | training s | feature-FID (last lease) | finished |", "|---|---:|---:|---:|---:|---|"]
        rows = []
        for v in ["dtm4", "mebm", "dtm4_noacp", "dtm2", "dtm8"]:
            leases = load(os.path.join(state, v, "leases.json"), [])
            if not leases:
                out.append("| %s | 0 | - | - | - | no |" % v)
                continue
            l = leases[-1]
            out.append("| %s | %d | %d | %.1f | %s | %s |" % (v, len(leases), l["epochs_to"], l["train_s_total"],
                                                          "%.2f" % l["feature_fid"] if "feature_fid" in l else "-", "yes" if l.get("finished") else "no"))
            for x in leases:
                if "feature_fid" in x:
                    rows.append((x["train_s_total"], x["flips_total"], x["feature_fid"], v))
        rows.sort(key=lambda r: (r[3], r[0]))
        plot(job_dir, "time_to_fid", [r[:3] for r in rows], ["train_s_total", "flips_total", "feature_fid"], "feature-FID",
             groups=[r[3] for r in rows])
    out += ["", "Leases: " + (", ".join(os.path.basename(d) for d in leases_dirs) or "none") + ". State: `state/` (the next lease continues from it).", ""]
    with open(os.path.join(job_dir, "README.md"), "w") as f:
        f.write("\n".join(out))
    print("\n".join(out))


def check(job_dir, n):
    """The dry run's test that n leases ran and each continued the one before."""
    job = os.path.basename(os.path.normpath(job_dir))
    state = os.path.join(job_dir, "state")
    meta = load(os.path.join(state, "job.json"), {"leases": 0})
    ok = meta["leases"] == n and len(lease_dirs(job_dir)) == n
    if job in ("dbm_mnist", "dbm_fashion", "dbm_mnist_mix"):
        leases = load(os.path.join(state, "leases.json"), [])
        ok = ok and len(leases) >= 1 and all(b["updates_from"] == a["updates_to"] for a, b in zip(leases, leases[1:]))
        # each lease trained, or finished the run (one cut before its evaluation trains none: helper-122)
        ok = ok and all(l["updates_to"] > l["updates_from"] or l.get("finished") for l in leases)
        ok = ok and (leases[-1].get("finished") or len(leases) == n)
    elif job == "dbm_golden":
        ok = ok and len(load(os.path.join(state, "golden.json"), [])) > 0
    elif job == "dtm_g12":
        leases = load(os.path.join(state, "dtm4", "leases.json"), [])
        ok = ok and len(leases) >= 2 and all(b["epochs_from"] == a["epochs_to"] for a, b in zip(leases, leases[1:]))
    ok = ok and os.path.exists(os.path.join(job_dir, "README.md"))
    if not ok:
        print("check: %s does not show %d continued leases" % (job_dir, n))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("job_dir")
    ap.add_argument("--check", type=int, default=0, help="only check that this many leases continued one another")
    a = ap.parse_args()
    if not os.path.isdir(a.job_dir):
        sys.exit("device_report: no job directory '%s'" % a.job_dir)
    if a.check:
        sys.exit(0 if check(a.job_dir, a.check) else 1)
    report(a.job_dir)


if __name__ == "__main__":
    main()
