#!/usr/bin/env python3
"""Check a built all-MiniLM-L6-v2 model.onnx against sentence-transformers' numbers.

    python check.py [MODEL_DIR] [--no-bench]

MODEL_DIR (default models/all-MiniLM-L6-v2) holds model.onnx and tokenizer.json.
Embeds the reference sentence pairs the way sentence-transformers does (WordPiece
tokenizer truncated to 256 tokens, padded to the longest in the batch, mean
pooling over the attention mask, L2 normalisation) and exits 1 if any cosine
similarity is more than 1e-4 away from the value measured with
sentence-transformers on the same weights. Then, unless --no-bench, times a
batch of 32 ~150-word chunks with 1 and with 2 intra-op threads.
"""

import argparse
import os
import random
import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

MAX_TOKENS = 256  # sentence_bert_config.json max_seq_length
TOLERANCE = 1e-4
REFERENCE = [
    ("How do I reset my password?", "Steps to recover a forgotten account password", 0.70528),
    ("The cat sat on the mat.", "A feline was resting on the rug.", 0.56313),
    (
        "Quarterly revenue grew by ten percent.",
        "The wiki page explains how to install the server on Debian.",
        -0.07372,
    ),
]


class Embedder:
    def __init__(self, model_dir, threads):
        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        # tokenizer.json ships with truncation 128 and fixed padding to 128: override
        # both, as sentence-transformers (and fastembed) do.
        self.tok.enable_truncation(max_length=MAX_TOKENS)
        self.tok.enable_padding(pad_id=0, pad_type_id=0, pad_token="[PAD]")
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(
            os.path.join(model_dir, "model.onnx"), so, providers=["CPUExecutionProvider"]
        )

    def tokenize(self, texts):
        enc = self.tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        types = np.array([e.type_ids for e in enc], dtype=np.int64)
        return ids, mask, types

    def embed(self, texts):
        ids, mask, types = self.tokenize(texts)
        (hidden,) = self.sess.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
        )
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norm = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norm, 1e-12, None)


def bench_chunks(n=32, words=150, seed=0):
    """Deterministic wiki-ish English chunks of `words` words each."""
    vocab = (
        "the a of to and in is that for it on with as was this by be are from or at an "
        "which have not page wiki server install configure user account password reset "
        "document section link search index editor history revision theme plugin host "
        "domain certificate backup restore database table query cache request response "
        "error log file folder permission group admin member team project release version "
        "update upgrade network port address proxy browser client session token login "
        "people often write notes about meetings plans ideas recipes travel books music "
        "garden weather city river mountain school library museum market kitchen office "
        "quickly slowly carefully usually sometimes never always before after during while "
        "because although however therefore example instance result reason question answer "
        "make take give find keep show read write build run start stop open close change "
        "new old large small first last good simple clear important different possible"
    ).split()
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ws = [rng.choice(vocab) for _ in range(words)]
        sent, text = [], []
        for i, w in enumerate(ws):
            sent.append(w)
            if len(sent) >= rng.randint(8, 18) or i == len(ws) - 1:
                s = " ".join(sent)
                text.append(s[0].upper() + s[1:] + ".")
                sent = []
        out.append(" ".join(text))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", nargs="?", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--no-bench", action="store_true", help="skip the throughput measurement")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per thread count (best is kept)")
    args = ap.parse_args()

    for f in ("model.onnx", "tokenizer.json"):
        if not os.path.isfile(os.path.join(args.model_dir, f)):
            sys.exit(f"check: {os.path.join(args.model_dir, f)} not found (run tools/model/fetch.sh first)")

    print(f"onnxruntime {ort.__version__}, model {os.path.join(args.model_dir, 'model.onnx')}")
    emb = Embedder(args.model_dir, threads=1)

    # Reference pairs, all embedded in one padded batch.
    texts = [t for a, b, _ in REFERENCE for t in (a, b)]
    vecs = emb.embed(texts)
    assert vecs.shape == (len(texts), 384), vecs.shape
    failed = False
    for i, (a, b, want) in enumerate(REFERENCE):
        got = float(vecs[2 * i] @ vecs[2 * i + 1])
        ok = abs(got - want) <= TOLERANCE
        failed |= not ok
        print(f"  {'ok  ' if ok else 'FAIL'} cos={got:+.5f} (reference {want:+.5f}, diff {got - want:+.1e})  {a!r} / {b!r}")

    # Padding must not change an embedding: each sentence alone vs in the padded batch.
    single = np.stack([emb.embed([t])[0] for t in texts])
    pad_diff = float(np.abs(single - vecs).max())
    pad_ok = pad_diff <= 1e-5
    failed |= not pad_ok
    print(f"  {'ok  ' if pad_ok else 'FAIL'} batch-padded vs one-by-one: max |diff| = {pad_diff:.1e}")

    # Truncation: a text far past 256 tokens must come out at exactly 256 tokens.
    long_ids, _, _ = emb.tokenize(["word " * 1000])
    trunc_ok = long_ids.shape[1] == MAX_TOKENS
    failed |= not trunc_ok
    print(f"  {'ok  ' if trunc_ok else 'FAIL'} a 1000-word text is cut to {long_ids.shape[1]} tokens (want {MAX_TOKENS})")

    if failed:
        print("check: FAILED", file=sys.stderr)
        sys.exit(1)
    print("check: all similarities within 1e-4 of sentence-transformers")

    if args.no_bench:
        return
    chunks = bench_chunks()
    ids, mask, _ = emb.tokenize(chunks)
    n_tokens = mask.sum(axis=1)
    print(
        f"bench: {len(chunks)} chunks of {len(chunks[0].split())} words, "
        f"{min(n_tokens)}-{max(n_tokens)} tokens each (batch padded to {ids.shape[1]})"
    )
    for threads in (1, 2):
        e = emb if threads == 1 else Embedder(args.model_dir, threads=threads)
        e.embed(chunks[:4])  # warm-up
        best, best_cpu = float("inf"), float("inf")
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            e.embed(chunks)
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        print(
            f"bench: intra_op_threads={threads}: batch of 32 in {best * 1000:.0f} ms wall "
            f"= {best / len(chunks) * 1000:.1f} ms per chunk ({len(chunks) / best:.1f} chunks/s); "
            f"CPU time {best_cpu * 1000:.0f} ms; best of {args.repeat}"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"bench: 1-minute load average {load:.2f} on {os.cpu_count()} CPUs (other work skews the wall times)")


if __name__ == "__main__":
    main()
