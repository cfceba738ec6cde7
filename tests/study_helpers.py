"""Helpers for the study/session/storage tests: a tiny stimulus library and spec."""
from __future__ import annotations

from pathlib import Path

from vr_study.library import StimulusLibrary
from vr_study.motion import MotionClip

SHORT_SPEC = """\
study:
  id: short_demo
  participant_pattern: 'P\\d{{2,3}}'
  seed: 7
factors:
  method: [emage, reconstruction]
  emotion: [happy, neutral]
stimuli:
  library: stimuli
counterbalancing:
  design: williams
trials:
  kind: {kind}
  practice: {{trials: 0}}
  attention_checks: {{after_trials: []}}
  breaks: {{between_blocks: false, every_trials: 0}}
questionnaires:
  after_trial: [trial_ratings, emotion_recognition]
  after_block: []
  after_session: [sam]
  timeout_s: 60
interaction:
  tts: {{backend: none}}
  turns:
    - agent: "Hello there, how are you today?"
    - participant: timed
      max_s: 1.0
storage:
  database: data/study.sqlite
"""

ANSWERS = {
    "trial_ratings": {"arousal_realism": 5, "naturalness": 4, "enjoyment": 3, "diversity": 6,
                      "interaction_quality": 2},
    "emotion_recognition": {"emotion": "$emotion", "confidence": 4},
    "sam": {"valence": 6, "arousal": 4, "dominance": 5},
}


def make_library(root: Path, methods=("emage", "reconstruction"), emotions=("happy", "neutral"),
                 frames: int = 15, per_cell: int = 1) -> StimulusLibrary:
    lib = StimulusLibrary.open(root, create=True)
    for m in methods:
        for e in emotions:
            for k in range(per_cell):
                lib.add_clip(MotionClip.zeros(frames, 30.0, num_expression=10, num_betas=10, method=m, emotion=e,
                                              utterance=f"utt{k}", seed=k))
    return lib


def make_turn_clips(spec_path: Path, library: Path, frames: int = 15, methods=("emage", "reconstruction"),
                    emotions=("happy", "neutral")) -> None:
    """Clips generated (stand-in motion) from each agent turn's own speech, as `generate batch
    STUDY.yaml` would add them: utterance = turn id, audio = the turn's speech, transcript = its text."""
    from vr_study.study.agent_speech import turn_speech
    from vr_study.study.spec import load_spec

    spec = load_spec(spec_path)
    lib = StimulusLibrary.open(library, create=True)
    for sp in turn_speech(spec, spec_path.parent / "data" / "tts", None):
        for m in methods:
            for e in emotions:
                lib.add_clip(MotionClip.zeros(frames, 30.0, num_expression=10, num_betas=10, method=m, emotion=e,
                                              utterance=sp.id, seed=0), sp.wav, transcript=sp.text)


def make_study(folder: Path, kind: str = "playback", frames: int = 15) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "study.yaml"
    spec.write_text(SHORT_SPEC.format(kind=kind))
    if kind == "interaction":
        make_turn_clips(spec, folder / "stimuli", frames=frames)
    else:
        make_library(folder / "stimuli", frames=frames)
    return spec
