"""Motion sources: speech in, SMPL-X MotionClips out (see docs/generators.md).

- :mod:`generators.base`: the :class:`~generators.base.Utterance` input and the generator protocol.
- :mod:`generators.registry`: generators by name (built-ins or ``package.module:ClassName``).
- :mod:`generators.prosody`: the built-in speech-driven generator, offline and streaming.
- :mod:`generators.external`: runners for EMAGE, TalkSHOW and AMUSE installations.
- :mod:`generators.batch`: fill a stimulus library (:mod:`vr_study.library`) from utterance lists.
- :mod:`generators.speech`: loading and checking speech input.
- :mod:`generators.reconstruction`: the video-reconstruction baseline.
"""
