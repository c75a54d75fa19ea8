#!/usr/bin/env bash
# ctest python.pip_install: `pip install --no-build-isolation .` works offline with Debian's
# setuptools and wheel, into a fresh venv (system site packages for numpy), from a copy of the
# tracked sources; the installed package samples (the README example's numbers) from another
# directory. CUDA is left out to keep the build short (PBIT_ENABLE_CUDA=OFF).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src-copy"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then  # the tracked (and new, not ignored) files
  (cd "$src" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tmp/src-copy")
else
  (cd "$src" && tar --exclude=./build --exclude=./out --exclude=./data -cf - .) | (cd "$tmp/src-copy" && tar -xf -)
fi
/usr/bin/python3 -m venv --system-site-packages "$tmp/venv"
PBIT_ENABLE_CUDA=OFF CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
  "$tmp/venv/bin/pip" install --no-build-isolation --no-deps --no-index -q "$tmp/src-copy"
cd "$tmp"
"$tmp/venv/bin/python" - <<'PY'
import pbit
assert pbit.__file__.startswith(__import__("sys").prefix), pbit.__file__
g = pbit.with_random_weights(pbit.random_regular(1000, 3, seed=1), 2, 0.5, 0.1)
s = pbit.Sampler(g, chains=4096, backend="cpu", seed=42)
s.set_clamp([0], [1])
obs = s.run(pbit.SamplingSchedule(warmup=100, samples=100, steps_per_sample=2),
            beta=pbit.BetaSchedule.linear(0.1, 1.0, 100), moments=True)
assert round(float(obs.node_mean[1]), 3) == 0.135 and round(float(obs.edge_corr[0]), 3) == -0.552, obs.node_mean[:2]
print("pip-installed pbit", pbit.__version__, "from", pbit.__file__, "samples the README example's numbers")
PY
