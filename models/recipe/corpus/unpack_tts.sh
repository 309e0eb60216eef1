#!/usr/bin/env bash
# Unpacks the TTS bundles (made by fetch_tts_debs.sh: *.tar.xz of pruned bookworm package
# trees, or plain *.deb files) into one root, links the two hard-coded data paths the engines
# need (/usr/share/mbrola for espeak-ng's mbrola voices, /usr/share/pico/lang for pico2wave),
# and prints the environment to use, as shell `export` lines:
#
#   eval "$(models/recipe/corpus/unpack_tts.sh ROOT [BUNDLE_DIR_OR_FILE ...])"
#
# Default bundle location: models/recipe/work/bundles (every subfolder). Unpacking is additive
# and idempotent, so bundles carried by separate calls can go into the same ROOT one by one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
R="${1:?usage: unpack_tts.sh ROOT [BUNDLE_DIR_OR_FILE ...]}"; shift || true
mkdir -p "$R"; R="$(cd "$R" && pwd)"
srcs=("$@")
[ ${#srcs[@]} -gt 0 ] || srcs=("$here/../work/bundles")

n=0
mkdir -p "$R/.unpacked"
while IFS= read -r -d '' f; do
  # an archive unpacked by an earlier call (still in the tree there) is not unpacked again
  stamp="$R/.unpacked/$(basename "$f")"
  [ -e "$stamp" ] && continue
  case "$f" in
    *.tar.xz) tar -C "$R" -xJf "$f" ;;
    *.deb) dpkg -x "$f" "$R" ;;
    *) continue ;;
  esac
  touch "$stamp"
  n=$((n + 1)); echo "unpack: $(basename "$f")" >&2
done < <(find -L "${srcs[@]}" -type f \( -name '*.tar.xz' -o -name '*.deb' \) -print0 2>/dev/null | sort -z)
echo "unpack: $n archives into $R" >&2

# Data paths compiled into the engines. Link what is missing; never replace existing files.
link_into() {  # link_into SRC_DIR DEST_DIR : make every entry of SRC_DIR visible under DEST_DIR
  local src="$1" dst="$2"
  [ -d "$src" ] || return 0
  if [ ! -e "$dst" ] && [ ! -L "$dst" ]; then
    mkdir -p "$(dirname "$dst")" 2>/dev/null && ln -s "$src" "$dst" 2>/dev/null \
      || echo "unpack: cannot link $dst (not root?); voices needing it will fail" >&2
    return 0
  fi
  [ "$(readlink -f "$dst")" = "$(readlink -f "$src")" ] && return 0
  for e in "$src"/*; do
    [ -e "$dst/$(basename "$e")" ] || ln -s "$e" "$dst/" 2>/dev/null || true
  done
}
link_into "$R/usr/share/mbrola" /usr/share/mbrola
link_into "$R/usr/share/pico/lang" /usr/share/pico/lang

L="$R/usr/lib/x86_64-linux-gnu"
echo "export TTS_ROOT='$R'"
echo "export TTS_LD_LIBRARY_PATH='$L:$L/pulseaudio:$R/lib/x86_64-linux-gnu'"
echo "export TTS_PATH='$R/usr/bin'"
