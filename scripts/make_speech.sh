#!/usr/bin/env bash
# Regenerates the bundled sample utterances in assets/speech/ with espeak-ng:
# 16 kHz mono 16-bit PCM wav, 3-6 s each, plus utterances.yaml (id, text, wav).
# Needs: espeak-ng, sox. Output is deterministic for a given espeak-ng version.
set -euo pipefail
cd "$(dirname "$0")/../assets/speech"
declare -a IDS=(greeting weather story)
declare -a TEXTS=(
  "Hello there! It is really nice to meet you. Welcome to our virtual room."
  "The weather today is calm and mild, with a little bit of sunshine later."
  "Yesterday I walked to the market, bought fresh bread, and went straight home."
)
{
  echo "# Sample English utterances synthesised by scripts/make_speech.sh (espeak-ng en-us, 16 kHz mono)."
  echo "utterances:"
} > utterances.yaml.tmp
for i in "${!IDS[@]}"; do
  id=${IDS[$i]}; text=${TEXTS[$i]}
  espeak-ng -v en-us -s 165 -p 50 -w "$id.raw.wav" "$text"
  sox "$id.raw.wav" -r 16000 -c 1 -b 16 "$id.wav.tmp.wav" norm -3
  mv "$id.wav.tmp.wav" "$id.wav"
  rm -f "$id.raw.wav"
  printf '  - id: %s\n    text: "%s"\n    wav: %s.wav\n' "$id" "$text" "$id" >> utterances.yaml.tmp
done
mv utterances.yaml.tmp utterances.yaml
for id in "${IDS[@]}"; do soxi -D "$id.wav" | xargs printf "%s.wav: %.2f s\n" "$id"; done
