"""Fill a stimulus library from a list of utterances: methods x emotions x seeds.

Resumable: a clip already in the library whose files match their hashes is skipped.
Every input is checked before anything is generated, and each clip is written
atomically with the manifest rewritten after it, so a failure never leaves a
half-written clip behind.
"""
from __future__ import annotations

import csv
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from vr_study.errors import InputError
from vr_study.library import StimulusLibrary, clip_id

from .base import Utterance, check_emotion, conditioning_of
from .registry import EXTERNAL_METHODS, available, get_generator

BUNDLED_UTTERANCES = Path(__file__).resolve().parent.parent / "assets" / "speech" / "utterances.yaml"


@dataclass
class UtteranceSpec:
    """One row of an utterance list: id, speech, transcript, optional speaker id.

    ``speaker``: one id for every method that takes one, or a mapping per method
    (``{"talkshow": "2", "faceformer": "FaceTalk_170728_03272_TA"}``): the methods' ids
    differ (TalkSHOW 0-3, FaceFormer's VOCASET subjects), so a study comparing both gives
    each its own. A method not named uses its configured default.

    ``wavs`` maps an emotion label to the speech recorded with that emotion (absolute
    paths); the key ``None`` holds one recording used for every emotion. The compared
    methods read emotion from the speech's prosody, so a study gives one wav per emotion.
    """

    id: str
    wavs: dict[str | None, Path]
    text: str | None = None
    speaker: str | dict[str, str] | None = None

    @property
    def wav(self) -> Path:
        """The single recording, or the first listed one (for code that needs any one)."""
        return self.wavs[None] if None in self.wavs else next(iter(self.wavs.values()))

    def wav_for(self, emotion: str) -> Path | None:
        """The speech for ``emotion``: its own recording, else the shared one, else None."""
        return self.wavs.get(emotion, self.wavs.get(None))


@dataclass
class BatchResult:
    generated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)


def read_utterance_list(path: str | Path) -> list[UtteranceSpec]:
    """Read utterances from YAML or CSV; ``wav`` paths are relative to the list file.

    YAML: ``utterances: [{id, text, wav, speaker?}]`` where ``wav`` is one file for every
    emotion or a mapping per emotion (``wav: {happy: greeting_happy.wav, neutral: ...}``)
    and ``speaker`` one id or a mapping per method (``speaker: {talkshow: 2, faceformer:
    FaceTalk_170728_03272_TA}``). CSV: columns ``id, text`` and ``wav`` and/or
    ``wav_<emotion>`` (e.g. ``wav_happy``), optional ``speaker`` and/or ``speaker_<method>``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "does not exist", "give a .yaml or .csv utterance list")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise InputError(path, None, f"is not valid YAML{f' at line {mark.line + 1}' if mark else ''}",
                             "fix the syntax") from None
        rows = data.get("utterances") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise InputError(path, "utterances", "is missing or not a list", "list items with id, text, wav")
    elif suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    else:
        raise InputError(path, None, f"has extension '{suffix}'", "give a .yaml or .csv utterance list")
    out, seen = [], set()
    for n, row in enumerate(rows, start=1):
        where = f"utterances[{n}]" if suffix != ".csv" else f"row {n + 1}"
        if not isinstance(row, dict):
            raise InputError(path, where, "is not a mapping", "give id, text and wav")
        wav = row.get("wav") or row.get("audio")
        if suffix == ".csv":  # wav_<emotion> columns
            per = {k[4:]: v for k, v in row.items() if k and k.startswith("wav_") and v}
            if per:
                wav = {**({None: wav} if wav else {}), **per}
        if not wav:
            raise InputError(path, f"{where}.wav", "is missing", "give the speech file of each utterance")
        if isinstance(wav, dict):
            items = list(wav.items())
            if not items:
                raise InputError(path, f"{where}.wav", "is an empty mapping",
                                 "give one wav per emotion, e.g. {happy: x_happy.wav, neutral: x_neutral.wav}")
        else:
            items = [(None, wav)]
        wavs: dict[str | None, Path] = {}
        for emo, w in items:
            field_name = f"{where}.wav" + (f".{emo}" if emo is not None else "")
            if not isinstance(w, (str, Path)) or not str(w):
                raise InputError(path, field_name, "is not a file name", "give the path of a wav file")
            wav_path = Path(str(w)).expanduser()
            wav_path = wav_path if wav_path.is_absolute() else (path.parent / wav_path).resolve()
            if not wav_path.is_file():
                raise InputError(path, field_name, f"'{wav_path}' does not exist", "fix the path")
            wavs[None if emo is None else str(emo)] = wav_path
        first = wavs.get(None) or next(iter(wavs.values()))
        uid = str(row.get("id") or first.stem)
        if uid in seen:
            raise InputError(path, f"{where}.id", f"'{uid}' appears twice", "give each utterance its own id")
        seen.add(uid)
        out.append(UtteranceSpec(uid, wavs, row.get("text") or None, _speaker_field(path, where, row)))
    if not out:
        raise InputError(path, "utterances", "is empty", "list at least one utterance")
    return out


def _speaker_field(path: Path, where: str, row: dict[str, Any]) -> str | dict[str, str] | None:
    """A row's ``speaker``: None, one id, or {method: id} (YAML mapping or ``speaker_<method>`` columns)."""
    value = row.get("speaker")
    per = {k[8:]: v for k, v in row.items() if isinstance(k, str) and k.startswith("speaker_") and v not in (None, "")}
    if isinstance(value, dict):
        per = {**value, **per}
        value = None
    for method, sp in per.items():
        if isinstance(sp, (dict, list)) or isinstance(sp, bool) or not str(sp).strip():
            raise InputError(path, f"{where}.speaker.{method}", f"is {sp!r}, not a speaker id",
                             "give one id per method, e.g. speaker: {talkshow: 2, faceformer: "
                             "FaceTalk_170728_03272_TA}")
    if isinstance(value, list):
        raise InputError(path, f"{where}.speaker", "is a list", "give one id, or a mapping per method, e.g. "
                         "speaker: {talkshow: 2, faceformer: FaceTalk_170728_03272_TA}")
    if per:
        if value not in (None, ""):
            raise InputError(path, f"{where}.speaker", "gives both one id and ids per method",
                             "use the mapping per method only")
        return {str(k): str(v) for k, v in per.items()}
    return None if value in (None, "") else str(value)


def check_speakers(generators: dict[str, Any], utterances: Sequence[UtteranceSpec]) -> None:
    """Refuse a speaker id a method cannot take, before anything is generated.

    A per-method mapping must name only known methods; each id is checked against the
    method's own ids (:func:`generators.external.check_speaker`). One id for every method
    is checked against each method that takes a speaker (and unused by the others).
    """
    from .external import check_speaker

    for u in utterances:
        if isinstance(u.speaker, dict):
            unknown = sorted(set(u.speaker) - set(generators) - set(available()))
            if unknown:
                raise InputError(None, f"utterance '{u.id}'.speaker", f"names unknown method(s) {', '.join(unknown)}",
                                 f"name methods of this batch ({', '.join(generators)})")
        for m, gen in generators.items():
            where = f"utterance '{u.id}'.speaker" + (f".{m}" if isinstance(u.speaker, dict) else "")
            sp = u.speaker.get(m) if isinstance(u.speaker, dict) else u.speaker
            check_speaker(m, sp, None, where, takes_speaker=conditioning_of(gen).speaker,
                          per_method=isinstance(u.speaker, dict))


def _sha(path: Path) -> str:
    """sha256 of a speech file (cached per path and modification time)."""
    return _sha_cached(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha_cached(path: str, mtime_ns: int) -> str:
    from vr_study.library import sha256_file

    return sha256_file(path)


def check_labels(generators: dict[str, Any], utterances: Sequence[UtteranceSpec], emotions: Sequence[str],
                 seeds: Sequence[int]) -> None:
    """Refuse labels that would name identical (or meaningless) clips differently.

    A method that ignores the emotion label (it reads emotion from the speech, or not at
    all) must get a different recording per emotion; a method whose motion does not depend
    on the seed must get one seed. Also every utterance needs a wav for every emotion.
    """
    for u in utterances:
        for e in emotions:
            if u.wav_for(e) is None:
                raise InputError(None, f"utterance '{u.id}'.wav",
                                 f"has no recording for emotion '{e}' (it lists {', '.join(map(str, u.wavs))})",
                                 f"add wav: {{{e}: {u.id}_{e}.wav}} to the utterance list or drop '{e}' from --emotions")
    for m, gen in generators.items():
        cond = conditioning_of(gen)
        if not cond.emotion_label and len(emotions) > 1:
            for u in utterances:
                by_file: dict[str, list[str]] = {}
                for e in emotions:
                    by_file.setdefault(_sha(u.wav_for(e)), []).append(e)
                same = next((es for es in by_file.values() if len(es) > 1), None)
                if same:
                    raise InputError(None, f"utterance '{u.id}'",
                                     f"uses the same speech ({u.wav_for(same[0]).name}) for emotions "
                                     f"{' and '.join(same)}, but method '{m}' ignores the emotion label "
                                     "(it reads emotion only from the speech), so the clips would be the same "
                                     "motion under two labels",
                                     f"give one recording per emotion (wav: {{{same[0]}: {u.id}_{same[0]}.wav, "
                                     f"{same[1]}: {u.id}_{same[1]}.wav}}) or run '{m}' with one emotion")
        if cond.seed is False and len(set(seeds)) > 1:
            raise InputError(None, "--seeds",
                             f"{' and '.join(map(str, seeds))} would label identical clips: method '{m}' has no "
                             "seed input (it is deterministic)",
                             f"run '{m}' with one seed (--seeds 0) in its own `generate batch`")


def fill_library(library_dir: str | Path, utterances: Sequence[UtteranceSpec], methods: Sequence[str],
                 emotions: Sequence[str], seeds: Sequence[int], methods_config: str | Path | None = None,
                 progress: bool = True, on_clip: Callable[[str, str], Any] | None = None,
                 generator_options: dict[str, dict] | None = None,
                 check_clip: Callable[[Any], list[str]] | None = None) -> BatchResult:
    """Generate every (method, utterance, emotion, seed) missing from the library.

    Each utterance's wav for the emotion is used (see :class:`UtteranceSpec`); labels a
    method ignores are refused first (:func:`check_labels`). ``check_clip(clip)`` returns
    warnings recorded per clip in the result (the CLI passes orientation checks)."""
    from tqdm import tqdm

    from .speech import load_speech

    generators = {}
    for m in methods:
        opts = dict((generator_options or {}).get(m, {}))
        if m in EXTERNAL_METHODS:
            opts.setdefault("config", methods_config)
        gen = get_generator(m, **opts)
        for e in emotions:
            check_emotion(gen, e)
        generators[m] = gen
    check_labels(generators, utterances, emotions, seeds)
    check_speakers(generators, utterances)
    for u in utterances:  # check every speech file before generating anything
        for w in dict.fromkeys(u.wav_for(e) for e in emotions):
            load_speech(w)

    lib = StimulusLibrary.open(library_dir, create=True)
    result = BatchResult()
    jobs = [(m, u, e, s) for m in methods for u in utterances for e in emotions for s in seeds]
    bar = tqdm(jobs, desc="generating", unit="clip", disable=not progress)
    for m, u, e, s in bar:
        cid = clip_id(m, u.id, e, s)
        wav = u.wav_for(e)
        if lib.is_valid(cid) and lib.entry(cid).audio_sha256 in (None, _sha(wav)):
            result.skipped.append(cid)
            continue
        bar.set_postfix_str(cid)
        utt = Utterance(wav, transcript=u.text, emotion=e, speaker=u.speaker, seed=int(s), id=u.id)
        clip = generators[m].generate(utt)
        lib.add_clip(clip, wav, cid, transcript=u.text)
        result.generated.append(cid)
        notes = clip.meta.extra.get("notes") or []
        if notes:
            result.notes[cid] = list(notes)
        warnings = check_clip(clip) if check_clip else []
        if warnings:
            result.warnings[cid] = list(warnings)
        if on_clip:
            on_clip(cid, "generated")
    return result


def demo_library(library_dir: str | Path, utterance_list: str | Path = BUNDLED_UTTERANCES,
                 seeds: Sequence[int] = (0, 1), progress: bool = True) -> StimulusLibrary:
    """Happy and neutral ``prosody`` clips (two seeds each) for the bundled utterances.

    The ``vr-study demo`` command calls this; it returns the opened library.
    """
    fill_library(library_dir, read_utterance_list(utterance_list), ["prosody"], ["happy", "neutral"],
                 list(seeds), progress=progress)
    return StimulusLibrary.open(library_dir)


def demo_comparison(library: StimulusLibrary, utterance: str | None = None,
                    method: str = "prosody") -> list[tuple[str, Path]]:
    """(caption, clip path) of one utterance's clips for a side-by-side video, in the order
    happy seed 0, happy seed 1, neutral seed 0, neutral seed 1 (whatever of those exist).
    ``utterance`` defaults to the first one in the library."""
    entries = library.find(method=method)
    if not entries:
        raise InputError(library.manifest_path, "clips", f"has no '{method}' clip", "run demo_library first")
    utt = utterance or sorted({e.utterance for e in entries if e.utterance})[0]
    chosen = sorted(library.find(method=method, utterance=utt),
                    key=lambda e: ({"happy": 0, "neutral": 1}.get(e.emotion or "", 2), e.seed or 0))
    return [(f"{e.method} / {e.emotion} / seed {e.seed}", library.path_of(e.id)) for e in chosen]
