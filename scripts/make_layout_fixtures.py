"""Write the ratings of tests/fixtures/analysis/study16.csv as other tools save them.

Usage: .venv/bin/python scripts/make_layout_fixtures.py

Writes tests/fixtures/analysis/layouts/:

* ``psychopy/P001_vr_rating_2026-11-02_09h00.00.000.csv`` ...: one PsychoPy Builder data
  file per participant (the "Save csv file" trial-by-trial format): conditions-file
  columns, the loop's ``trials.thisRepN/thisTrialN/thisN/thisIndex``, ``thisRow.t``,
  ``<component>.started/.stopped``, a Slider per item (``<name>.response``, ``<name>.rt``),
  the expInfo columns (``participant``, ``session``, ``date``, ``expName``,
  ``psychopyVersion``, ``frameRate``, ``expStart``), rows of routines outside the loop
  (instructions, thanks) and the trailing comma PsychoPy writes on every line.
* ``jspsych.csv``: ``jsPsych.data.get().csv()`` of all participants: one row per trial of
  every plugin (instructions, the video, the rating page), plugin data first (``rt``,
  ``stimulus``, ``response``, ``trial_type``, ``trial_index``, ``time_elapsed``,
  ``internal_node_id``), then ``data``/``addProperties`` fields; the rating page is the
  ``survey`` plugin, whose ``response`` is a JSON object keyed by question name (five
  ratings and the recognition question ``perceived_emotion``, answered with a label).
* ``qualtrics.csv``: a Qualtrics "CSV, choice values" export: one row per respondent, the
  three header rows (field id, question text, ``{"ImportId": ...}``), the response metadata
  columns, one column per question named by its data export tag
  ``<method>_<emotion>_<utterance>_<item>``, and one survey-preview response.
* ``codebook.csv``: the item metadata as ``vr-study export`` writes it.

The numbers are exactly those of study16.csv, so a report of any of these files must equal
the report of study16.csv.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "analysis"
OUT = FIX / "layouts"
ITEMS = ["arousal_realism", "naturalness", "face_quality", "enjoyment", "interaction_quality"]


def _ratings() -> pd.DataFrame:
    d0 = pd.read_csv(FIX / "study16.csv", dtype=str, keep_default_na=False)
    d = d0[d0["item"].isin(ITEMS)]
    w = d.pivot_table(index=["participant_id", "trial_index", "method", "emotion", "clip_id",
                             "utterance"], columns="item", values="value", aggfunc="first")
    w = w.reset_index()
    rec = d0[d0["item"] == "perceived_emotion"].set_index(["participant_id", "trial_index"])
    w["perceived_emotion"] = [rec.loc[(p, t), "response_text"]
                              for p, t in zip(w["participant_id"], w["trial_index"])]
    w["_t"] = w["trial_index"].astype(int)
    return w.sort_values(["participant_id", "_t"]).reset_index(drop=True)


def _write_csv(path: Path, header: list[str], rows: list[list], trailing_comma=False) -> None:
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(header + ([""] if trailing_comma else []))
    for r in rows:
        wr.writerow(["" if v is None else v for v in r] + ([""] if trailing_comma else []))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue())


def psychopy(w: pd.DataFrame) -> None:
    header = (["method", "emotion", "clip", "utterance", "trials.thisRepN", "trials.thisTrialN",
               "trials.thisN", "trials.thisIndex", "thisRow.t", "notes", "instructions.started",
               "instr_text.started", "key_resp.started", "instructions.stopped", "key_resp.keys",
               "key_resp.rt", "trial.started", "movie.started", "trial.stopped",
               "rating.started"]
              + [c for it in ITEMS for c in (f"{it}.response", f"{it}.rt")]
              + ["rating.stopped", "thanks.started", "participant", "session", "date",
                 "expName", "psychopyVersion", "frameRate", "expStart"])
    for i, (pid, g) in enumerate(w.groupby("participant_id", sort=True)):
        date = f"2026-11-{2 + i // 8:02d}_{9 + i % 8:02d}h00.00.000"
        info = [pid, "001", date, "vr_rating", "2023.2.3", "59.99891841696589",
                f"2026-11-{2 + i // 8:02d} {9 + i % 8:02d}h00.00.000000 +0000"]
        empty = [""] * (len(header) - 7)
        rows = [empty[:10] + ["0.01", "0.02", "0.02", "6.41", "space", "6.38"]
                + empty[16:] + info]
        t = 6.5
        for n, r in enumerate(g.itertuples()):
            row = [r.method, r.emotion, r.clip_id, r.utterance, "0", str(n), str(n), str(n),
                   f"{t:.4f}", "", "", "", "", "", "", "", f"{t:.4f}", f"{t + 0.05:.4f}",
                   f"{t + 3.1:.4f}", f"{t + 3.1:.4f}"]
            for k, it in enumerate(ITEMS):
                row += [getattr(r, it), f"{1.3 + 0.41 * k + 0.07 * (n % 5):.4f}"]
            row += [f"{t + 9.2:.4f}", "", *info]
            rows.append(row)
            t += 9.4
        rows.append(empty[:len(header) - 9] + [f"{t:.4f}", ""] + info)
        _write_csv(OUT / "psychopy" / f"{pid}_vr_rating_{date}.csv", header, rows,
                   trailing_comma=True)


def jspsych(w: pd.DataFrame) -> None:
    header = ["rt", "stimulus", "response", "trial_type", "trial_index", "time_elapsed",
              "internal_node_id", "subject", "method", "emotion", "clip", "task"]
    rows = []
    for pid, g in w.groupby("participant_id", sort=True):
        ti, te = 0, 5200
        rows.append(["5190", "<p>Welcome. Press the space bar to start.</p>", " ",
                     "html-keyboard-response", str(ti), str(te), "0.0-0.0", pid, "", "", "",
                     "instructions"])
        for n, r in enumerate(g.itertuples()):
            ti += 1
            te += 3300
            rows.append(["3102", json.dumps([f"video/{r.clip_id}.mp4"]), "0",
                         "video-button-response", str(ti), str(te), f"0.0-1.0-0.{n}", pid,
                         r.method, r.emotion, r.clip_id, "stimulus"])
            ti += 1
            te += 8100
            answer = {**{it: int(getattr(r, it)) for it in ITEMS},
                      "perceived_emotion": r.perceived_emotion}
            rows.append(["8042", "", json.dumps(answer, separators=(",", ":")), "survey",
                         str(ti), str(te), f"0.0-1.0-1.{n}", pid, r.method, r.emotion,
                         r.clip_id, "rating"])
    _write_csv(OUT / "jspsych.csv", header, rows)


def qualtrics(w: pd.DataFrame) -> None:
    meta = ["StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)",
            "Finished", "RecordedDate", "ResponseId", "RecipientLastName", "RecipientFirstName",
            "RecipientEmail", "ExternalReference", "LocationLatitude", "LocationLongitude",
            "DistributionChannel", "UserLanguage"]
    text = ["Start Date", "End Date", "Response Type", "IP Address", "Progress",
            "Duration (in seconds)", "Finished", "Recorded Date", "Response ID",
            "Recipient Last Name", "Recipient First Name", "Recipient Email",
            "External Data Reference", "Location Latitude", "Location Longitude",
            "Distribution Channel", "User Language"]
    imp = ['{"ImportId":"startDate","timeZone":"Europe/Berlin"}',
           '{"ImportId":"endDate","timeZone":"Europe/Berlin"}', '{"ImportId":"status"}',
           '{"ImportId":"ipAddress"}', '{"ImportId":"progress"}', '{"ImportId":"duration"}',
           '{"ImportId":"finished"}', '{"ImportId":"recordedDate","timeZone":"Europe/Berlin"}',
           '{"ImportId":"_recordId"}', '{"ImportId":"recipientLastName"}',
           '{"ImportId":"recipientFirstName"}', '{"ImportId":"recipientEmail"}',
           '{"ImportId":"externalDataReference"}', '{"ImportId":"locationLatitude"}',
           '{"ImportId":"locationLongitude"}', '{"ImportId":"distributionChannel"}',
           '{"ImportId":"userLanguage"}']
    wording = {"arousal_realism": "The agent's emotional intensity looked realistic.",
               "naturalness": "The agent's body and face movements looked natural.",
               "face_quality": "The agent's face looked good.",
               "enjoyment": "I enjoyed interacting with the agent.",
               "interaction_quality": "The conversation felt like a good interaction."}
    cells = w[["method", "emotion", "utterance"]].drop_duplicates().sort_values(
        ["method", "emotion", "utterance"]).itertuples(index=False)
    qcols, qtext, qimp = [], [], []
    for k, (m, e, u) in enumerate(cells):
        for j, it in enumerate(ITEMS):
            qcols.append(f"{m}_{e}_{u}_{it}")
            qtext.append(f"Clip {k + 1} ({m}, {e}, {u}) - {wording[it]}")
            qimp.append(json.dumps({"ImportId": f"QID{k + 1}_{j + 1}"}, separators=(",", ":")))
    rows = []
    for i, (pid, g) in enumerate(w.groupby("participant_id", sort=True)):
        vals = {f"{r.method}_{r.emotion}_{r.utterance}_{it}": getattr(r, it)
                for r in g.itertuples() for it in ITEMS}
        day = 2 + i // 8
        rows.append([f"2026-11-{day:02d} 09:{i:02d}:00", f"2026-11-{day:02d} 09:{i + 30:02d}:00",
                     "IP Address", "", "100", "1804", "True",
                     f"2026-11-{day:02d} 09:{i + 30:02d}:01", f"R_{pid}x7Gq2", "", "", "", "",
                     "", "", "anonymous", "EN"] + [vals[c] for c in qcols])
    preview = ["2026-11-01 17:00:00", "2026-11-01 17:05:00", "Survey Preview", "", "100", "300",
               "True", "2026-11-01 17:05:01", "R_preview01", "", "", "", "", "", "", "preview",
               "EN"] + ["4"] * len(qcols)
    _write_csv(OUT / "qualtrics.csv", meta + qcols,
               [text + qtext, imp + qimp, preview] + rows)


def codebook() -> None:
    d = pd.read_csv(FIX / "study16.csv", dtype=str, keep_default_na=False)
    cb = d[["instrument", "item", "subscale", "scale_min", "scale_max", "reversed"]]\
        .drop_duplicates("item").sort_values(["instrument", "item"])
    cb.insert(2, "type", ["choice" if i == "emotion_recognition" else "likert"
                          for i in cb["instrument"]])
    cb.to_csv(OUT / "codebook.csv", index=False)


if __name__ == "__main__":
    wide = _ratings()
    psychopy(wide)
    jspsych(wide)
    qualtrics(wide)
    codebook()
    print(f"wrote {OUT}")
