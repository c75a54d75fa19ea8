"""docs/CLI.md's tables of model config keys against the code: each default the tables give is the
value `pbit MODEL config` resolves that key to (so a default changed in the code, or in the docs,
fails here until the other follows)."""
import json
import os
import re
import subprocess

import pytest

from helpers import source_dir


def resolved(cli, group, config):
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"pbit_docs_{os.getpid()}_{group}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    try:
        r = subprocess.run([cli, group, "config", "--config", path], capture_output=True, text=True)
    finally:
        os.remove(path)
    assert r.returncode == 0, f"pbit {group} config {config}: {r.stderr}"
    return json.loads(r.stdout)


def table_after(doc, header):
    """The rows (lists of cells) of the markdown table whose header line starts with `header`."""
    lines = doc.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    return rows


def balanced(text, k):
    """The text inside the bracket that opens at text[k], and the index after its close."""
    close = {"(": ")", "[": "]", "{": "}"}[text[k]]
    depth = 0
    for j in range(k, len(text)):
        if text[j] == text[k]:
            depth += 1
        elif text[j] == close:
            depth -= 1
            if depth == 0:
                return text[k + 1:j], j + 1
    return text[k + 1:], len(text)


def documented_defaults(cell):
    """{dotted key: the first word of its parenthesis} for each `key (...)` of a table cell; `key {`
    opens a nested section (train's positive {...})."""
    out, stack, k = {}, [], 0
    pattern = re.compile(r"([A-Za-z_]\w*) ([({])|}")
    while True:
        m = pattern.search(cell, k)
        if not m:
            return out
        if m.group(0) == "}":
            if stack:
                stack.pop()
            k = m.end()
        elif m.group(2) == "{":
            stack.append(m.group(1))
            k = m.end()
        else:
            inside, k = balanced(cell, m.end() - 1)
            out[".".join(stack + [m.group(1)])] = inside.strip()


def first_value(text, value):
    """The default a parenthesis starts with, as the type of `value`; None when it starts with prose."""
    if isinstance(value, list):
        return json.loads(balanced(text, 0)[0].join("[]")) if text.startswith("[") else None
    # "T: 4" names the default; "...; 0, the default, = no budget" says which one it is.
    named = re.match(r"[A-Z]\w*: ([^;,)\s]+)", text) or re.search(r"([^;,()\s]+), the default", text)
    word = named or re.match(r"[^;,)\s]+", text)
    if not word:
        return None
    word = word.group(1 if named else 0).rstrip(":")
    if isinstance(value, bool):
        return {"true": True, "false": False}.get(word)
    if isinstance(value, (int, float)):
        word = re.match(r"-?[\d.]+(e-?\d+)?", word)
        return float(word.group(0)) if word else None
    return word


def lookup(config, dotted):
    for part in dotted.split("."):
        if not isinstance(config, dict) or part not in config:
            return None
        config = config[part]
    return config


# Cells whose parentheses describe something other than the default.
NOT_DEFAULTS = {("pdnn", "run.backend")}

# The documented keys that are not compared, each for its reason: a key the default config does not
# write (an alternative, or a section's part that only a setting brings), or a parenthesis of prose.
NOT_COMPARED = {
    "dbm": {"dataset.dir", "graph.file", "hardware.defaults", "hardware.in_situ", "eval.beta_start", "eval.tempering",
            "generate.tempering", "generate.anneal"},
    "dtm": {"run.seed", "train.tempering", "generate.tempering"},
    "eqprop": {"network.topology", "hardware.pat", "hardware.in_situ"},
    "pdnn": {"network.bits", "run.backend", "hardware.only"},
}


def check(cli, group, rows, column, probes):
    """Each documented default of `group` (its table's `column`) against the resolved configs of
    `probes` (the first that has the key; a key a probe sets is not compared from it): the count
    compared, the differences, and the keys not compared."""
    compared, wrong, skipped = 0, [], set()
    configs = [(p, resolved(cli, group, p)) for p in probes]
    for row in rows:
        names = re.findall(r"`(\w+)`", row[0])
        section = names[min(column - 1, len(names) - 1)] if names else None  # `graph` / `model`: the DBM's, the DTM's
        if section is None or column >= len(row):
            continue
        for key, text in documented_defaults(row[column]).items():
            dotted = f"{section}.{key}"
            doc, value = None, None
            if (group, dotted) not in NOT_DEFAULTS:
                for probe, r in configs:
                    value = lookup(r, dotted)
                    if value is not None and lookup(probe, dotted) is None:
                        doc = first_value(text, value)
                        break
            if doc is None:
                skipped.add(dotted)
                continue
            compared += 1
            same = abs(doc - value) <= 1e-6 * abs(value) if isinstance(doc, float) and not isinstance(value, bool) else doc == value
            if not same:
                wrong.append(f"{dotted}: docs say {doc!r} ({text[:40]!r}), the code {value!r}")
    return compared, wrong, skipped


def test_model_config_tables_give_the_codes_defaults(cli):
    doc = open(os.path.join(source_dir(), "docs", "CLI.md"), encoding="utf-8").read()
    dbm_dtm = table_after(doc, "| section | DBM keys")
    cases = [
        ("dbm", dbm_dtm, 1, [{}, {"generate": {"tempering": {"betas": [5, 1]}}}]),
        ("dtm", dbm_dtm, 2, [{}]),
        ("eqprop", table_after(doc[doc.index("### EqProp configs"):], "| section | keys (default) |"), 1, [{}]),
        ("pdnn", table_after(doc[doc.index("### p-DNN configs"):], "| section | keys (default) |"), 1,
         [{}, {"hardware": {"weight_bits": 8}}, {"hardware": {"gain_sigma": 0.1}}, {"generator": {}}]),
    ]
    problems = []
    for group, rows, column, probes in cases:
        compared, wrong, skipped = check(cli, group, rows, column, probes)
        problems += [f"docs/CLI.md's {group} table: {w}" for w in wrong]
        # A key misspelt in the docs, or a default written as prose, is not silently left out.
        if skipped != NOT_COMPARED[group]:
            problems.append(f"docs/CLI.md's {group} table: keys not compared {sorted(skipped)}, expected {sorted(NOT_COMPARED[group])}")
        if compared < 20:  # the tables' layout changed under the reader
            problems.append(f"{group}: only {compared} documented defaults were read from docs/CLI.md")
    assert not problems, "\n".join(problems)
