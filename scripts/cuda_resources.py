#!/usr/bin/env python3
"""What ptxas gives each of pbit's CUDA kernels on sm_90: registers, spills, stack, static shared
memory, and the warps per SM the registers leave room for (an H200 has 64K 32-bit registers and at
most 64 resident warps per SM). Spills and register-bound occupancy show here, on a machine without a
GPU, before a device session measures the speed they cost.

    python3 scripts/cuda_resources.py BUILD_DIR [--json OUT.json]

BUILD_DIR is a configured CUDA build (ninja), e.g. build/kit: each .cu file of the library is compiled
again with that build's own nvcc command, for sm_90 SASS only (-cubin, a few seconds), with
--resource-usage. scripts/device_kit.sh build prints the table into build/carry/KIT.txt.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

REGS_PER_SM = 65536
MAX_WARPS_PER_SM = 64


def cu_commands(build_dir):
    out = subprocess.run(["ninja", "-C", build_dir, "-t", "commands", "pbit"], capture_output=True, text=True, check=True).stdout
    return [shlex.split(line) for line in out.splitlines() if re.search(r"nvcc\S* .* -c \S+\.cu ", line)]


def resource_command(cmd, cubin):
    """The build's nvcc command, compiling device code for sm_90 only, with the resource report."""
    out, skip = [], 0
    for i, a in enumerate(cmd):
        if skip:
            skip -= 1
            continue
        if a in ("-MT", "-MF", "-o"):
            skip = 1
            continue
        if a == "-MD" or a == "-c" or a.startswith("--generate-code") or a.startswith("-gencode"):
            continue
        out.append(a)
    src = cmd[cmd.index("-c") + 1]
    out.remove(src)
    return out + ["-arch=sm_90", "-cubin", "--resource-usage", src, "-o", cubin], src


def parse(text):
    rows, cur = {}, None
    for line in text.splitlines():
        m = re.search(r"Compiling entry function '(\S+)'", line)
        if m:
            cur = rows.setdefault(m.group(1), {"registers": 0, "spill_store_bytes": 0, "spill_load_bytes": 0,
                                                "stack_frame_bytes": 0, "static_smem_bytes": 0})
            continue
        if cur is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            cur["stack_frame_bytes"], cur["spill_store_bytes"], cur["spill_load_bytes"] = map(int, m.groups())
        m = re.search(r"Used (\d+) registers", line)
        if m:
            cur["registers"] = int(m.group(1))
        m = re.search(r"(\d+) bytes smem", line)
        if m:
            cur["static_smem_bytes"] = int(m.group(1))
    return rows


def demangle(names):
    try:
        out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return list(names)
    clean = []
    for n in out:
        n = re.sub(r"\(anonymous namespace\)::|pbit::detail::|pbit::", "", n)
        n = re.sub(r"\(RngContract\)0", "exact", re.sub(r"\(RngContract\)1", "fast", n))
        clean.append(re.sub(r"^void ", "", re.sub(r"\(.*\)$", "", n)))  # the return type, the parameter list
    return clean


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    try:
        cmds = cu_commands(args.build_dir)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"cuda_resources: cannot read the build's commands in {args.build_dir}: {e}", file=sys.stderr)
        return 1
    if not cmds:
        print(f"cuda_resources: {args.build_dir} compiles no .cu files (a build without CUDA?)", file=sys.stderr)
        return 1
    kernels = []
    with tempfile.TemporaryDirectory() as tmp:
        for cmd in cmds:
            full, src = resource_command(cmd, f"{tmp}/k.cubin")
            r = subprocess.run(full, capture_output=True, text=True, cwd=args.build_dir)
            if r.returncode != 0:
                print(f"cuda_resources: nvcc failed on {src}:\n{r.stderr[-2000:]}", file=sys.stderr)
                return 1
            rows = parse(r.stdout + r.stderr)
            for name, row in zip(demangle(list(rows)), rows.values()):
                regs = max(row["registers"], 1)
                per_warp = -(-regs * 32 // 256) * 256  # allocated per warp in units of 256 registers
                row["warps_per_sm_by_registers"] = min(MAX_WARPS_PER_SM, REGS_PER_SM // per_warp)
                kernels.append({"kernel": name, "source": src.split("/")[-1], **row})
    kernels.sort(key=lambda k: (k["source"], -k["registers"], k["kernel"]))
    print("CUDA kernels on sm_90 (ptxas --resource-usage; warps/SM: what the register file allows of 64):")
    print(f"  {'kernel':<44} {'regs':>4} {'spill B':>7} {'stack B':>7} {'smem B':>6} {'warps/SM':>8}")
    for k in kernels:
        flag = "  <- spills" if k["spill_store_bytes"] else ""
        print(f"  {k['kernel'][:44]:<44} {k['registers']:>4} {k['spill_store_bytes']:>7} {k['stack_frame_bytes']:>7} "
              f"{k['static_smem_bytes']:>6} {k['warps_per_sm_by_registers']:>8}{flag}")
    if args.json:
        with open(args.json + ".part", "w") as f:
            json.dump({"arch": "sm_90", "registers_per_sm": REGS_PER_SM, "kernels": kernels}, f, indent=1)
        os.replace(args.json + ".part", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
