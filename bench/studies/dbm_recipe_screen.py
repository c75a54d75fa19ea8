#!/usr/bin/env python3
"""The DBM recipe screen behind bench/results/dbm_mnist_recipe_screen-2core_2026-11-21.json.

Writes one config per variant of configs/dbm_mnist_cpu.json into out/screen/, then (with --run NAME...)
trains each variant and evaluates it, appending a line per variant to out/screen/summary.txt:
    python3 bench/studies/dbm_recipe_screen.py                 # write the configs
    python3 bench/studies/dbm_recipe_screen.py --run base lr48 # train + evaluate (about 1-2 min each
                                                               # on 2 cores; the *_5ep runs 5-15 min,
                                                               # the neg10x_* runs 30-40 min)
"""
import copy, json, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "out", "screen")


def variants():
    base = json.load(open(os.path.join(ROOT, "configs", "dbm_mnist_cpu.json")))
    base["dataset"]["train_limit"] = 20000  # 400 updates per epoch, 3 epochs = 1200 updates
    base["train"]["eval_images_per_epoch"] = 0
    base["train"]["weight_decay"] = 0.001

    def five(c, lr):  # all 60,000 images for 5 epochs
        del c["dataset"]["train_limit"]
        c["train"].update(epochs=5, learning_rate=lr, lr_final=lr / 10)

    def neg(c, chains, samples, steps):
        c["train"]["negative"].update(chains=chains, samples=samples, steps_per_sample=steps)

    edits = {
        "base": lambda c: None,
        "base_s2": lambda c: c["run"].update(seed=2),
        "posw50": lambda c: c["train"]["positive"].update(warmup=50),
        "pos4": lambda c: c["train"]["positive"].update(chains=4),
        "wd3e3": lambda c: c["train"].update(weight_decay=0.003),
        "mom09": lambda c: c["train"].update(momentum=0.9, learning_rate=0.012, lr_final=0.0012),
        "mom09b": lambda c: c["train"].update(momentum=0.9, learning_rate=0.0075, lr_final=0.00075),
        "lr48": lambda c: c["train"].update(learning_rate=0.048, lr_final=0.0048),
        "lr80": lambda c: c["train"].update(learning_rate=0.08, lr_final=0.008),
        "bs200": lambda c: c["train"].update(batch_size=200, learning_rate=0.06, lr_final=0.006),
        "cent01": lambda c: c["train"].update(centering_rate=0.01),
        "cent1": lambda c: c["train"].update(centering_rate=0.1),
        "lr48_5ep": lambda c: five(c, 0.048),
        "n64x160_5ep": lambda c: (five(c, 0.03), neg(c, 64, 16, 10)),
        "n8x1280_5ep": lambda c: (five(c, 0.03), neg(c, 8, 64, 20)),
        "lrfin_5ep": lambda c: (five(c, 0.048), c["train"].update(lr_final=0.0005)),
        "initpm1": lambda c: c["init"].update(bias="pm1"),
        # 10x the negative-phase flips per update (the GPU configs spend 40x): longer chains or more chains
        "neg10x_long_5ep": lambda c: (five(c, 0.03), neg(c, 256, 10, 40)),
        "neg10x_wide_5ep": lambda c: (five(c, 0.03), neg(c, 2560, 10, 4)),
        "lr80_5ep": lambda c: five(c, 0.08),
        # another seeded role placement (which nodes are visible, label and hidden)
        "role2": lambda c: c["graph"].update(role_seed=2),
        "role3": lambda c: c["graph"].update(role_seed=3),
    }
    for name, edit in edits.items():
        c = copy.deepcopy(base)
        edit(c)
        c["run"]["output_dir"] = os.path.join("out", "screen", name)
        yield name, c


def main(argv):
    os.makedirs(OUT, exist_ok=True)
    known = {}
    for name, c in variants():
        known[name] = path = os.path.join(OUT, name + ".json")
        with open(path, "w") as f:
            json.dump(c, f, indent=1)
    if argv[:1] != ["--run"]:
        print("wrote %d configs to %s" % (len(known), OUT))
        return 0
    pbit = os.path.join(ROOT, "build", "release", "pbit")
    for name in argv[1:]:
        if name not in known:
            sys.exit("unknown variant '%s' (one of %s)" % (name, ", ".join(known)))
        cfg = known[name]
        with open(os.path.join(OUT, name + ".log"), "w") as log:
            subprocess.run([pbit, "dbm", "train", "--config", cfg], cwd=ROOT, stdout=log, stderr=log, check=True)
        r = json.load(open(os.path.join(OUT, name, "results.json")))
        ev = subprocess.run([pbit, "dbm", "eval", "--config", cfg, "--model", os.path.join(OUT, name, "model.json"),
                             "--limit", "1000", "--sweeps", "2000"], cwd=ROOT, capture_output=True, text=True, check=True)
        e2k = json.loads(ev.stdout)["curve"][0]["test_accuracy"]
        line = "%s full_e300_acc,train_s=%s %s e2k_1000=%s" % (name, r["test_accuracy"], r["train_wall_s"], e2k)
        print(line, flush=True)
        with open(os.path.join(OUT, "summary.txt"), "a") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
