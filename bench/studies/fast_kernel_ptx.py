#!/usr/bin/env python3
"""Static cost of the fast GPU kernel's neighbour loop, from its PTX (no GPU needed).

Compiles kernels/cuda/gibbs_kernels.cu to PTX for sm_90 with the build's flags, takes the
fast_sweeps_kernel entry, finds its innermost loops (a label and the backward branch to it, with no
other loop inside) and reports, for the one with the most shared-memory loads (the interleaved field sums of
packed_sweep.hpp), how many PTX instructions it issues per neighbour term (one ld.shared each).
PTX is not SASS: ptxas fuses some operations (three-input logic, address offsets), so this is an
upper bound to compare versions with, not an issue-slot count; ncu on a device gives that.

    python3 bench/studies/fast_kernel_ptx.py                  # this checkout
    python3 bench/studies/fast_kernel_ptx.py --root /tmp/old  # another checkout (a git worktree)
    python3 bench/studies/fast_kernel_ptx.py --out result.json
"""
import argparse, collections, json, os, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS = ["-O3", "-DNDEBUG", "-arch=sm_90", "-fmad=false", "--expt-relaxed-constexpr", "-std=c++20",
         "-DPBIT_WITH_CUDA=1"]
FREE = ("mov.", "//", "{", "}", "$L", ".reg", ".loc", ".pragma")  # not issued, or not instructions


def compile_ptx(root):
    out = os.path.join(tempfile.mkdtemp(prefix="pbit_ptx_"), "gibbs_kernels.ptx")
    cmd = ["nvcc"] + FLAGS + ["-I" + os.path.join(root, d) for d in ("include", "kernels", "src")]
    cmd += ["-ptx", os.path.join(root, "kernels", "cuda", "gibbs_kernels.cu"), "-o", out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("nvcc failed (source scripts/env.sh first?):\n" + r.stderr)
    return open(out).read()


def entry_body(ptx, name):
    m = re.search(r"\.entry\s+\S*%s\S*\(" % name, ptx)
    if not m:
        sys.exit("no .entry for %s in the PTX" % name)
    nxt = ptx.find(".entry", m.end())
    return ptx[m.start(): nxt if nxt >= 0 else len(ptx)].splitlines()


def loops(lines):
    """(label, first line, last line) for each backward branch `bra $L` to a label above it."""
    where = {}
    found = []
    for k, line in enumerate(lines):
        s = line.strip()
        if re.match(r"^\$L\w+:$", s):
            where[s[:-1]] = k
        m = re.search(r"\bbra(?:\.uni)?\s+(\$L\w+);", s)
        if m and m.group(1) in where:
            found.append((m.group(1), where[m.group(1)], k))
    return found


def cost(lines):
    ops = collections.Counter()
    for line in lines:
        s = line.strip()
        if not s or s.startswith(FREE) or s.endswith(":"):
            continue
        s = re.sub(r"^@!?%p\d+\s+", "", s)
        ops[s.split()[0]] += 1
    return ops


def analyse(body):
    """Per-instance figures: the neighbour loop's cost per term, and the per-group-pair cost besides it."""
    found = loops(body)
    innermost = [(l, a, b) for l, a, b in found
                 if not any((a2, b2) != (a, b) and a <= a2 and b2 <= b for _, a2, b2 in found)]
    best = None
    for label, a, b in innermost:
        ops = cost(body[a:b + 1])
        lds = sum(v for k, v in ops.items() if k.startswith("ld.shared"))
        if lds and (best is None or lds > best[3]):
            best = (label, a, b, lds, ops)
    if best is None:
        sys.exit("no loop with shared-memory loads in fast_sweeps_kernel")
    label, a, b, lds, ops = best
    total = sum(ops.values())
    # The loop around it is a team member's walk over a color, one pair of Philox groups (2 x 4 nodes)
    # per iteration, fixed trip counts unrolled: what it issues outside its own inner loops, less
    # neighbour terms, is the cost of a pair besides them (group set-up, Philox, bias and field, exp,
    # the decisions, the ballots and stores). Static code: both groups and every branch counted, so
    # an upper bound on what one pair issues.
    outer = [(l2, a2, b2) for l2, a2, b2 in found if a2 <= a and b <= b2 and (a2, b2) != (a, b)]
    pair = None
    if outer:
        l2, a2, b2 = min(outer, key=lambda t: t[2] - t[1])
        inner = [(a3, b3) for _, a3, b3 in found if a2 < a3 and b3 < b2]
        keep = cost([line for k, line in enumerate(body[a2:b2 + 1], start=a2) if not any(a3 <= k <= b3 for a3, b3 in inner)])
        shared_outside = sum(v for k, v in keep.items() if k.startswith("ld.shared"))
        pair = sum(keep.values()) - shared_outside * total / lds
    return label, b - a + 1, lds, total, ops, pair


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=HERE, help="checkout to compile (default: this one)")
    ap.add_argument("--degree", type=float, default=14.3, help="mean degree for the per-flip total (Pegasus(14): 14.3)")
    ap.add_argument("--lane-instructions-per-ns", type=float, default=29650.0,
                    help="issue rate of the device: SMs x 4 schedulers x 32 lanes x GHz (H200: 132 x 128 x 1.755)")
    ap.add_argument("--out", help="write the JSON here as well as to stdout")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    ptx = compile_ptx(root)
    names = sorted(set(re.findall(r"\.entry\s+(\S*fast_sweeps_kernel\S*)\(", ptx)))
    if not names:
        sys.exit("no fast_sweeps_kernel in the PTX")
    variants = []
    for name in names:
        m = re.search(r"fast_sweeps_kernelILi(\d)ELNS_11RngContractE(\d)E", name)
        K, contract = (int(m.group(1)), ("exact", "fast")[int(m.group(2))]) if m else (1, "exact")
        body = entry_body(ptx, re.escape(name))
        label, lines, lds, total, ops, pair = analyse(body)
        per_term = total / lds                      # per lane: one edge, K chains
        per_chain_term = per_term / K
        pair_per_flip = pair / (2 * 4 * K) if pair else None
        flip = (pair_per_flip or 0) + args.degree * per_chain_term
        variants.append({
            "kernel": "fast_sweeps_kernel<%d, %s>" % (K, contract),
            "words_per_lane": K,
            "contract": contract,
            "loop_label": label,
            "loop_ptx_lines": lines,
            "neighbour_loads_per_iteration": lds,
            "ptx_instructions_per_iteration": total,
            "ptx_instructions_per_neighbour_per_lane": round(per_term, 2),
            "ptx_instructions_per_neighbour_per_chain": round(per_chain_term, 2),
            "global_loads_per_neighbour_per_chain": round(sum(v for k, v in ops.items() if k.startswith("ld.global")) / lds / K, 3),
            "pair_overhead_ptx_instructions_per_flip": round(pair_per_flip, 1) if pair_per_flip else None,
            "ptx_instructions_per_flip": round(flip, 1),
            "predicted_flips_per_ns_if_issue_bound": round(args.lane_instructions_per_ns / flip, 0),
            "opcodes": dict(sorted(ops.items())),
        })
    variants.sort(key=lambda v: (v["contract"] != "exact", v["words_per_lane"]))
    sha = subprocess.run(["git", "-C", root, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
    res = {
        "study": "fast_kernel_ptx",
        "git_sha": sha + ("-dirty" if dirty else ""),
        "nvcc_flags": FLAGS,
        "mean_degree": args.degree,
        "lane_instructions_per_ns": args.lane_instructions_per_ns,
        "note": "static PTX counts: an upper bound on issued SASS (ptxas fuses logic ops, folds address "
                "offsets, and Philox's wide multiplies are PTX pairs); compare variants, not absolutes",
        "variants": variants,
    }
    text = json.dumps(res, indent=1)
    print(text)
    for v in variants:
        print("%-36s per neighbour per chain %5.2f  pair overhead per flip %6s  per flip %6.1f  -> %5.0f flips/ns" % (
            v["kernel"], v["ptx_instructions_per_neighbour_per_chain"], v["pair_overhead_ptx_instructions_per_flip"],
            v["ptx_instructions_per_flip"], v["predicted_flips_per_ns_if_issue_bound"]), file=sys.stderr)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
