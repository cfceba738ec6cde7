"""Questionnaires: instruments as data, answer checking and scoring, tablet and experimenter pages.

- :mod:`questionnaires.instruments`: YAML instrument files -> validated models.
- :mod:`questionnaires.scoring`: check one screen's answers; subscale scores, reverse keying.
- :mod:`questionnaires.tablet`: the FastAPI app (``create_app``, ``serve``).
- :mod:`questionnaires.simulate`: ``HttpAnswerer``, a scripted tablet over real HTTP.

See docs/questionnaires.md.
"""
