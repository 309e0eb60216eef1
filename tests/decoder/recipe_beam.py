#!/usr/bin/python3
"""Prints the recipe's modified beam search (models/recipe/decode.py) on the tiny model's
golden encoder output, as JSON {"<beam>": [token ids]}, for the C++ parity test.

  recipe_beam.py [LM.arpa LM_WEIGHT WORD_BONUS]   adds "lm": beam 4 with shallow fusion.
"blank1" is beam 4 with a blank penalty of 1."""
import json
import os
import sys

import sentencepiece as spm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "models", "recipe"))
from decode import ArpaLM, beam_search  # noqa: E402
from model import load_model_folder  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

folder = os.path.join(ROOT, "tests", "data", "tiny-model")
model, _ = load_model_folder(folder)
golden, _ = read_safetensors(os.path.join(folder, "golden.safetensors"))
e = golden["encoder_out"].float()
sp = spm.SentencePieceProcessor(model_file=os.path.join(folder, "bpe.model"))
pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
out = {str(b): beam_search(model, e, e.shape[0], pieces, beam=b) for b in (1, 4, 8)}
out["blank1"] = beam_search(model, e, e.shape[0], pieces, beam=4, blank_penalty=1.0)
if len(sys.argv) == 4:
    out["lm"] = beam_search(model, e, e.shape[0], pieces, beam=4, lm=ArpaLM(sys.argv[1]),
                            lm_weight=float(sys.argv[2]), word_bonus=float(sys.argv[3]))
json.dump(out, sys.stdout)
