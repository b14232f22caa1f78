#!/usr/bin/python3
"""Error of an output against a reference, both .npy: relative L2, max abs, cosine, argmax agreement (last axis).

    /usr/bin/python3 benchmarks/ort/compare_npy.py REFERENCE.npy OUTPUT.npy [--labels Y.npy] [--json]
"""
import argparse
import json

import numpy as np


def compare(ref, out, labels=None):
    r, o = ref.astype(np.float64), out.astype(np.float64)
    if r.shape != o.shape:
        raise SystemExit(f"shape mismatch: reference {r.shape}, output {o.shape}")
    d = o - r
    res = {"rel_l2": float(np.linalg.norm(d) / max(np.linalg.norm(r), 1e-30)), "max_abs": float(np.abs(d).max()),
           "cosine": float((r * o).sum() / max(np.linalg.norm(r) * np.linalg.norm(o), 1e-30)),
           "argmax_agreement": float((r.argmax(-1) == o.argmax(-1)).mean())}
    if labels is not None:
        res["accuracy"] = float((o.argmax(-1) == labels).mean())
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference")
    ap.add_argument("output")
    ap.add_argument("--labels")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = compare(np.load(a.reference), np.load(a.output), np.load(a.labels) if a.labels else None)
    print(json.dumps(res) if a.json else "  ".join(f"{k} {v:.3g}" for k, v in res.items()))


if __name__ == "__main__":
    main()
