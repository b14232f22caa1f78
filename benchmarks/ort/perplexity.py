#!/usr/bin/python3
"""Next-byte cross-entropy of a language model's logits on the token ids they were computed from.

    /usr/bin/python3 benchmarks/ort/perplexity.py IDS.npy LOGITS.npy [--json]

IDS: int [batch, sequence]; LOGITS: float [batch, sequence, vocab], position t predicting token t + 1 (causal LM),
so batch * (sequence - 1) predictions are scored. Prints the mean negative log-likelihood in nats, in bits per token
(bits per byte for a byte-level model) and the perplexity exp(nats); with --json one JSON line
{"predictions", "nats", "bits_per_token", "perplexity"}.
"""

import argparse
import json
import math
import sys

import numpy as np


def cross_entropy(ids, logits):
    if ids.ndim != 2 or logits.ndim != 3 or logits.shape[:2] != ids.shape:
        raise ValueError(f"shapes do not match: ids {ids.shape}, logits {logits.shape} (want [B, T] and [B, T, V])")
    if ids.shape[1] < 2:
        raise ValueError("need a sequence of at least 2 tokens")
    z = logits[:, :-1].astype(np.float64)
    target = ids[:, 1:].astype(np.int64)
    if target.min() < 0 or target.max() >= z.shape[-1]:
        raise ValueError(f"token ids outside [0, {z.shape[-1]})")
    m = z.max(axis=-1, keepdims=True)
    log_z = np.log(np.exp(z - m).sum(axis=-1)) + m[..., 0]
    picked = np.take_along_axis(z, target[..., None], axis=-1)[..., 0]
    nll = log_z - picked
    if not np.all(np.isfinite(nll)):
        raise ValueError("non-finite logits")
    return float(nll.mean()), int(nll.size)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ids")
    ap.add_argument("logits")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    try:
        nats, n = cross_entropy(np.load(args.ids), np.load(args.logits))
    except ValueError as e:
        print(f"perplexity.py: error: {e}", file=sys.stderr)
        return 1
    result = {"predictions": n, "nats": nats, "bits_per_token": nats / math.log(2), "perplexity": math.exp(nats)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{n} predictions: {nats:.4f} nats, {result['bits_per_token']:.4f} bits/token, "
              f"perplexity {result['perplexity']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
