"""Score the trace redactor: recall and precision on the labelled corpus, false positives
on clean text (the standard library's sources), throughput.

    .venv/bin/python benchmarks/redaction_score.py [--corpus PATH] [--clean-dir DIR]
        [--clean-mb 1.0] [--show-misses] [--show-false-positives]

Corpus (see ../shared/fixtures/redaction/README.md): a positive is *detected* when the
redactor changes its text and *masked* when its `value` no longer occurs in the output;
a negative is a false positive when the redactor changes it. Clean text: the first
`--clean-mb` MiB of `*.py` files under `--clean-dir` (sorted by name), redacted file by
file; every finding there counts as a false positive.
"""

from __future__ import annotations

import argparse
import json
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from runner.telemetry.redact import Redactor

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT / "tests/telemetry/fixtures/redaction-corpus.jsonl"


def score_corpus(redactor: Redactor, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall, share masked, false-positive rate and precision on the labelled rows."""
    tp = fn = fp = masked = 0
    misses: list[dict[str, Any]] = []
    false_positives: list[tuple[dict[str, Any], str]] = []
    for row in rows:
        out = redactor.redact(row["text"])
        changed = out != row["text"]
        if row["secret"]:
            tp, fn = (tp + 1, fn) if changed else (tp, fn + 1)
            fully = row["value"] not in out
            masked += fully
            if not fully:
                misses.append(row)
        elif changed:
            fp += 1
            false_positives.append((row, out))
    positives = tp + fn
    negatives = len(rows) - positives
    return {
        "positives": positives,
        "negatives": negatives,
        "recall": tp / positives,
        "masked": masked / positives,
        "fpr_negatives": fp / negatives,
        "false_positives": fp,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "misses": misses,
        "fp_rows": false_positives,
    }


def clean_texts(directory: Path, limit_bytes: int) -> list[tuple[str, str]]:
    """(name, text) of the first `limit_bytes` of `*.py` files under `directory`."""
    texts: list[tuple[str, str]] = []
    total = 0
    for path in sorted(directory.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        texts.append((path.name, text))
        total += len(text.encode())
        if total >= limit_bytes:
            break
    return texts


def score_clean(redactor: Redactor, texts: list[tuple[str, str]]) -> dict[str, Any]:
    """False positives per MiB and throughput (MiB/s, lines/s) on clean text."""
    size = sum(len(t.encode()) for _, t in texts)
    lines = sum(t.count("\n") + 1 for _, t in texts)
    findings: list[tuple[str, str, str]] = []
    start = time.perf_counter()
    for name, text in texts:
        for begin, end, rule in redactor.spans(text):
            findings.append((name, rule, text[max(0, begin - 30) : end + 10]))
    elapsed = time.perf_counter() - start
    mib = size / (1 << 20)
    return {
        "mib": mib,
        "lines": lines,
        "false_positives": len(findings),
        "fp_per_mib": len(findings) / mib,
        "mib_per_s": mib / elapsed,
        "lines_per_s": lines / elapsed,
        "findings": findings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--clean-dir", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--clean-mb", type=float, default=1.0)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--show-false-positives", action="store_true")
    args = parser.parse_args(argv)

    redactor = Redactor()
    rows = [json.loads(line) for line in args.corpus.read_text().splitlines() if line.strip()]
    corpus = score_corpus(redactor, rows)
    print(f"corpus: {corpus['positives']} positives, {corpus['negatives']} negatives")
    print(f"  recall (detected)         {corpus['recall']:.3f}")
    print(f"  secret value fully masked {corpus['masked']:.3f}")
    fpr, fps = corpus["fpr_negatives"], corpus["false_positives"]
    print(f"  FPR on negatives          {fpr:.3f} ({fps})")
    print(f"  precision                 {corpus['precision']:.3f}")
    if args.show_misses:
        for row in corpus["misses"]:
            print("  MISS", row["rule"], repr(row["text"][:140]))
    if args.show_false_positives:
        for row, out in corpus["fp_rows"]:
            print("  FP", row["rule"], repr(row["text"][:100]), "->", repr(out[:100]))

    clean = score_clean(redactor, clean_texts(args.clean_dir, int(args.clean_mb * (1 << 20))))
    print(f"clean text: {clean['mib']:.2f} MiB, {clean['lines']} lines of {args.clean_dir}/*.py")
    print(f"  false positives           {clean['false_positives']}")
    print(f"  false positives per MiB   {clean['fp_per_mib']:.1f}")
    print(f"  throughput                {clean['mib_per_s']:.2f} MiB/s")
    print(f"  throughput                {clean['lines_per_s']:,.0f} lines/s")
    if args.show_false_positives:
        for name, rule, excerpt in clean["findings"]:
            print("  CLEAN-FP", name, rule, repr(excerpt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
