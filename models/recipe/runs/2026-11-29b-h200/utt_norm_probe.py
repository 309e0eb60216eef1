#!/usr/bin/env python3
"""Probe: per-utterance feature normalization applied at test time only, on the shipped model
(no retraining), greedy WER. Modes: none; mean (the utterance mean replaced by the training
mean); meanvar (mean and variance); halfmean (half the mean shift). Run from models/recipe:
  /usr/bin/python3 runs/2026-11-29b-h200/utt_norm_probe.py none,mean,meanvar,halfmean
Output of 2026-11-29: utt_norm_probe.txt beside this file."""
import sys, os, torch, argparse
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
import evaluate as E
from data import read_manifest
from model import load_model_folder
import sentencepiece as spm
torch.set_num_threads(2)
R = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
W = os.path.join(R, 'work')
model, _ = load_model_folder(os.path.join(R, '..', 'ancat-en')); model.eval()
sp = spm.SentencePieceProcessor(model_file=os.path.join(R, '..', 'ancat-en', 'bpe.model'))
gm = model.frontend.cmvn_mean.clone(); gsd = 1.0 / model.frontend.cmvn_istd.clone()
orig = E.batch_fbank
def make(mode):
    def f(wav, wl):
        feats, flen = orig(wav, wl)
        if mode == 'none': return feats, flen
        out = feats.clone()
        for j in range(feats.shape[0]):
            n = int(flen[j]); x = feats[j, :n]
            mu = x.mean(0)
            if mode == 'mean':
                out[j, :n] = x - mu + gm
            elif mode == 'meanvar':
                sd = x.std(0).clamp_min(1e-3)
                out[j, :n] = (x - mu) / sd * gsd + gm
            elif mode == 'halfmean':
                out[j, :n] = x - 0.5 * (mu - gm)
        return out, flen
    return f
class A: batch_seconds = 60
sets = {'dev': f'{W}/finalize/dev/dev_syn.jsonl', 'real_dev': f'{W}/testsets/real_dev.jsonl',
        'ps': f'{W}/testsets/ps_testdata.jsonl', 'va': f'{W}/testsets/test_va.jsonl'}
for mode in sys.argv[1].split(','):
    E.batch_fbank = make(mode)
    res = []
    for name, p in sets.items():
        es = read_manifest(p)
        with torch.no_grad():
            enc = E.encode_set(model, es, 0.0, None, A, 'cpu')
            r = E.search_set(model, sp, es, enc, 'greedy', 1)
        res.append(f"{name} {r['wer']:.2f}")
    print(mode, *res, flush=True)
