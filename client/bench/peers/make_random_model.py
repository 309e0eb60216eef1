#!/usr/bin/python3
"""A random-init model folder of the recipe's default size (ModelConfig() of model.py), so that
ancat-bench can measure speed when no trained model is at hand.

Speed depends on the shapes, not on what the weights learned, with two caveats the figures
should carry: the arbiters of random weights choose other lookaheads than a trained model's
(attention windows differ by a few keys), and random joiner outputs emit more tokens (more
search work). Writes model.json, weights.safetensors (bf16 like the shipped model) and a
500-piece BPE trained on the transcripts of ../shared/data/real-speech.

  /usr/bin/python3 client/bench/peers/make_random_model.py --out /tmp/ancat-bench/random-default
"""
import argparse
import json
import os
import sys
import tempfile

import sentencepiece as spm
import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "models", "recipe"))

from export import export_folder  # noqa: E402
from model import ModelConfig, Transducer  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--texts", default=os.path.join(REPO, "..", "shared", "data", "real-speech",
                                                    "manifest.jsonl"))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    cfg = ModelConfig()
    with tempfile.TemporaryDirectory() as tmp:
        with open(a.texts) as f, open(os.path.join(tmp, "text.txt"), "w") as out:
            for line in f:
                out.write(json.loads(line)["text"] + "\n")
        spm.SentencePieceTrainer.train(
            input=os.path.join(tmp, "text.txt"), model_prefix=os.path.join(tmp, "bpe"),
            vocab_size=cfg.vocab_size, model_type="bpe", pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
            pad_piece="<blk>", character_coverage=1.0, minloglevel=2)
        torch.manual_seed(a.seed)
        export_folder(Transducer(cfg), a.out, os.path.join(tmp, "bpe.model"), dtype="bf16",
                      name="random-default", version=f"seed{a.seed}")
    print(a.out)


if __name__ == "__main__":
    main()
