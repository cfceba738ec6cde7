#!/usr/bin/env bash
# Regenerates the bundled sample utterances in assets/speech/ with espeak-ng (en-us):
#   <id>.wav          the default voice (pitch 50, 165 wpm), normalised to -3 dBFS peak
#   <id>_happy.wav    high, wide-ranging pitch, faster and louder (high arousal)
#   <id>_neutral.wav  low, narrow pitch, slower and softer (mid arousal)
# 16 kHz mono 16-bit PCM, plus utterances.yaml (id, text, wav: {happy, neutral}).
# The emotional variants are NOT normalised, so their loudness difference stays in the files.
# Pitch base and range (Hz) come from a voice variant file loaded with --load (espeak-ng
# has no command-line flag for the range); -s sets the rate (words/min), -a the amplitude.
# Needs: espeak-ng, sox. Output is deterministic for a given espeak-ng version.
set -euo pipefail
cd "$(dirname "$0")/../assets/speech"
declare -a IDS=(greeting weather story)
declare -a TEXTS=(
  "Hello there! It is really nice to meet you. Welcome to our virtual room."
  "The weather today is calm and mild, with a little bit of sunshine later."
  "Yesterday I walked to the market, bought fresh bread, and went straight home."
)
# emotion -> "pitch_base_hz pitch_range_hz rate_wpm amplitude"
declare -A STYLE=(
  [happy]="130 180 180 115"
  [neutral]="110 60 155 85"
)
voices=$(mktemp -d)
trap 'rm -rf "$voices"' EXIT
for emo in "${!STYLE[@]}"; do
  read -r base range _ _ <<< "${STYLE[$emo]}"
  printf 'name vrs_%s\nlanguage en-us\npitch %s %s\n' "$emo" "$base" "$range" > "$voices/vrs_$emo"
done
{
  echo "# Sample English utterances synthesised by scripts/make_speech.sh (espeak-ng en-us, 16 kHz mono)."
  echo "# wav: one recording per emotion; the methods read emotion from the speech itself."
  echo "utterances:"
} > utterances.yaml.tmp
here=$PWD
for i in "${!IDS[@]}"; do
  id=${IDS[$i]}; text=${TEXTS[$i]}
  espeak-ng -v en-us -s 165 -p 50 -w "$id.raw.wav" -- "$text"
  sox "$id.raw.wav" -r 16000 -c 1 -b 16 "$id.wav.tmp.wav" norm -3
  mv "$id.wav.tmp.wav" "$id.wav"
  rm -f "$id.raw.wav"
  for emo in happy neutral; do
    read -r _ _ rate amp <<< "${STYLE[$emo]}"
    (cd "$voices" && espeak-ng --load -v "vrs_$emo" -s "$rate" -a "$amp" -w "$here/${id}_$emo.raw.wav" -- "$text")
    sox "${id}_$emo.raw.wav" -r 16000 -c 1 -b 16 "${id}_$emo.tmp.wav"
    mv "${id}_$emo.tmp.wav" "${id}_$emo.wav"
    rm -f "${id}_$emo.raw.wav"
  done
  printf '  - id: %s\n    text: "%s"\n    wav: {happy: %s_happy.wav, neutral: %s_neutral.wav}\n' \
    "$id" "$text" "$id" "$id" >> utterances.yaml.tmp
done
mv utterances.yaml.tmp utterances.yaml
for f in *.wav; do soxi -D "$f" | xargs printf "%s: %.2f s\n" "$f"; done
