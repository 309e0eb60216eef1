#!/usr/bin/env bash
# Installs (on a Debian bookworm machine) what the Debian side of the corpus needs: the text
# packages for `corpus.text extract`, the held-out TTS voices for make_testsets.py, IRSTLM for
# lm.py, and pocketsphinx for pocketsphinx_peer.py. Not needed by CI. Non-free voices (mbrola,
# pico) come through a private sources list; /etc/apt is never edited.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
APT="${APT_DIR:-$here/../work/apt}"
mkdir -p "$APT/lists/partial"
cat > "$APT/sources.list" <<'LIST'
deb http://deb.debian.org/debian bookworm main contrib non-free
deb http://deb.debian.org/debian bookworm-updates main contrib non-free
deb http://deb.debian.org/debian-security bookworm-security main contrib non-free
LIST
A=(-o "Dir::Etc::SourceList=$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$APT/lists")
PKGS=(
  # text
  wamerican fortunes fortunes-min fortune-anarchism tfortunes bible-kjv bible-kjv-text wordnet-base dict-gcide
  # held-out voices (and the training voices, to render locally)
  festival festlex-cmu festlex-poslex festlex-oald festvox-rablpc16k festvox-kallpc16k festvox-kdlpc16k
  festvox-don festvox-us-slt-hts festvox-us1 festvox-us2 festvox-en1 flite
  mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 libttspico-utils espeak-ng
  # the unheard-voice dev set (corpus/voices.py DEV_ONLY)
  mbrola-de6
  # LM, peer, opus reading
  irstlm pocketsphinx pocketsphinx-en-us pocketsphinx-testdata python3-pocketsphinx libopusfile0
)
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get "${A[@]}" update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${A[@]}" install -y -qq --no-install-recommends "${PKGS[@]}"
