"""Studies: the spec (YAML -> typed models), counterbalancing, participant plans, the session
orchestrator (stimulus drivers, interaction turns, TTS, LSL markers) and the tidy export.

Storage lives in :mod:`vr_study.storage`; the tablet pages in ``questionnaires`` (wired in
by :mod:`vr_study.cli.study`).
"""
