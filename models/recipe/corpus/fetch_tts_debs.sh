#!/usr/bin/env bash
# Downloads the Debian bookworm .debs of every TTS engine and voice the corpus uses, plus the
# shared libraries an Ubuntu 24.04 GPU box may lack, and packs them into two bundles
# (A: engines, festival/flite/pico/espeak-ng voices, libraries; B: the accented mbrola voices)
# that each stay under the per-call carry limit.
#
# Why bundles of pruned trees rather than raw .debs: the raw .debs of all voices are ~200 MB
# (mbrola-de6, not a training voice, alone is 41 MB), while one GPU call carries 64 MiB including the repo. The bundles
# hold the dpkg -x'd files minus docs, other languages and the held-out voices (pico en-GB,
# mbrola us3, festival rab_diphone are never shipped, so they cannot leak into training).
#
# Usage: fetch_tts_debs.sh [WORK]   (default WORK = models/recipe/work)
# Needs network access to deb.debian.org; never edits /etc/apt (private sources list).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
WORK="${1:-$here/../work}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
APT="$WORK/apt"
DEBS="$WORK/debs"
mkdir -p "$APT/lists/partial" "$DEBS"

cat > "$APT/sources.list" <<'LIST'
deb http://deb.debian.org/debian bookworm main contrib non-free
deb http://deb.debian.org/debian bookworm-updates main contrib non-free
deb http://deb.debian.org/debian-security bookworm-security main contrib non-free
LIST
A=(-o "Dir::Etc::SourceList=$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null
   -o "Dir::State::Lists=$APT/lists" -o Dir::Cache="$APT/cache" -o APT::Architecture=amd64)
mkdir -p "$APT/cache/archives/partial"
apt-get "${A[@]}" update -qq

# Engines and voices. Held-out voices (pico en-GB, mbrola-us3, festvox-rablpc16k) are NOT listed.
FESTIVAL=(festival festlex-cmu festlex-poslex festlex-oald libestools2.5 festvox-kallpc16k festvox-kdlpc16k
          festvox-don festvox-us-slt-hts festvox-us1 festvox-us2 festvox-en1)
FLITE=(flite libflite1)
PICO=(libttspico-utils libttspico0 libttspico-data libpopt0)
ESPEAK=(espeak-ng libespeak-ng1 espeak-ng-data libpcaudio0 libsonic0)
MBROLA_BASE=(mbrola mbrola-us1 mbrola-us2 mbrola-en1)
# The accented English voices are espeak-ng's mb-XX-en voices; each needs its mbrola database.
# mbrola-de6 is left out: it renders only the unheard-voice dev set (corpus/voices.py DEV_ONLY;
# install_debian_tools.sh installs it where finalize.py runs).
MBROLA_ACCENT=(mbrola-af1 mbrola-de1 mbrola-de2 mbrola-de3 mbrola-de4 mbrola-de5
               mbrola-fr1 mbrola-fr4 mbrola-gr2 mbrola-hu1 mbrola-nl2 mbrola-pl1 mbrola-ro1
               mbrola-sw1 mbrola-sw2)
# Runtime libraries of the binaries above (from ldd on bookworm), minus libc6/libstdc++6/libgcc-s1
# which any Ubuntu 24.04 has in newer, compatible versions. libopusfile0 decodes the real speech.
LIBS=(libasound2 libpulse0 libasyncns0 libbsd0 libmd0 libdbus-1-3 libsndfile1 libflac12 libogg0
      libvorbis0a libvorbisenc2 libopus0 libopusfile0 libmpg123-0 libmp3lame0 libsystemd0
      libgcrypt20 libgpg-error0 liblz4-1 liblzma5 libzstd1 libcap2 libx11-6 libx11-xcb1 libxcb1
      libxau6 libxdmcp6 libgomp1 libtinfo6)

ALL=("${FESTIVAL[@]}" "${FLITE[@]}" "${PICO[@]}" "${ESPEAK[@]}" "${MBROLA_BASE[@]}"
     "${MBROLA_ACCENT[@]}" "${LIBS[@]}")
(cd "$DEBS" && apt-get "${A[@]}" download "${ALL[@]}")
echo "fetch: $(ls "$DEBS"/*.deb | wc -l) debs, $(du -sm "$DEBS" | cut -f1) MiB in $DEBS"

# --- stage and prune -------------------------------------------------------------------------
stage() {  # stage NAME PKG... : dpkg -x the packages into $WORK/stage/NAME
  local root="$WORK/stage/$1"; shift
  rm -rf "$root"; mkdir -p "$root"
  for p in "$@"; do dpkg -x "$(ls "$DEBS"/"${p}"_*.deb | head -1)" "$root"; done
  rm -rf "$root"/usr/share/{doc,man,lintian,locale,emacs,sgml,bug,info,alsa} "$root"/etc \
         "$root"/usr/include "$root"/usr/lib/x86_64-linux-gnu/pkgconfig
  find "$root" -name '*.a' -delete
}
L=usr/lib/x86_64-linux-gnu
stage A "${FESTIVAL[@]}" "${FLITE[@]}" "${PICO[@]}" "${ESPEAK[@]}" mbrola "${LIBS[@]}"
rA="$WORK/stage/A"
# flite: drop the talking clock (every flite_cmu_us_* binary links the grapheme and indic libs).
rm -f "$rA"/$L/libflite_cmu_time_awb* \
      "$rA"/usr/bin/flite_time "$rA"/usr/bin/flite_cmu_time_awb
# pico: en-US only (en-GB is a held-out voice).
find "$rA"/usr/share/pico/lang -type f ! -name 'en-US*' -delete
# espeak-ng: English dictionary, phoneme data, voices, mbrola phoneme maps.
find "$rA"/$L/espeak-ng-data -maxdepth 1 -name '*_dict' ! -name en_dict -delete
rm -f "$rA"/$L/espeak-ng-data/voices/mb/mb-us3
# festival multisyn/unit-selection support is unused by the shipped voices; keep everything else.

rm -rf "$WORK/bundles"; mkdir -p "$WORK/bundles/A"
tar -C "$rA" -cf - . | xz -T2 -9 > "$WORK/bundles/A/engines.tar.xz"

# mbrola databases, one archive each, packed greedily (in priority order) into bundles B, C, ...
# of at most LIMIT bytes each. A database bigger than LIMIT is skipped.
LIMIT=$((29 * 1048576))
mkdir -p "$WORK/bundles/mbrola"
for p in mbrola-us1 mbrola-us2 mbrola-en1 "${MBROLA_ACCENT[@]}"; do
  stage "$p" "$p"
  rm -rf "$WORK/stage/$p/usr/share/doc" "$WORK/stage/$p/usr/lib"
  tar -C "$WORK/stage/$p" -cf - . | xz -T2 -9 > "$WORK/bundles/mbrola/$p.tar.xz"
done
letters=(B C D E F G H)
bi=0; used=0
for f in $(ls -S -r "$WORK"/bundles/mbrola/*.tar.xz | grep -E 'mbrola-(us1|us2|en1)\.') \
         $(ls -S -r "$WORK"/bundles/mbrola/*.tar.xz | grep -v -E 'mbrola-(us1|us2|en1)\.'); do
  s=$(stat -c %s "$f")
  if [ "$s" -gt "$LIMIT" ]; then echo "skip $(basename "$f"): $((s / 1048576)) MiB alone exceeds a bundle"; continue; fi
  if [ $((used + s)) -gt "$LIMIT" ]; then bi=$((bi + 1)); used=0; fi
  mkdir -p "$WORK/bundles/${letters[$bi]}"
  mv "$f" "$WORK/bundles/${letters[$bi]}/"
  used=$((used + s))
done
rm -rf "$WORK/bundles/mbrola"
for d in "$WORK"/bundles/*/; do
  echo "bundle $(basename "$d"): $(du -sb "$d" | awk '{printf "%.1f MiB", $1/1048576}'):" $(ls "$d")
done
