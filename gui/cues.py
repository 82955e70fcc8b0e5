"""Spoken and audible cues for the home mode and the therapist's guided tests.

One helper, :class:`Cues`, picks the best output this machine has and degrades silently:

* **speech**: Qt's ``QtTextToSpeech`` when the module imports *and* has an engine
  (``QTextToSpeech.availableEngines()``; speech-dispatcher on Linux, SAPI/WinRT on Windows,
  AVSpeech on macOS) and the engine does not report an error;
* **tones**: short sine beeps played with ``QtMultimedia.QSoundEffect`` (WAV files generated
  once per process into a private temporary folder) when the module imports and the
  machine has an audio output; a different pitch and length per cue (tick, go, stop,
  repetition);
* else the platform beep, ``QApplication.beep()`` (silent where there is none, e.g. the
  offscreen platform of the tests).

Text cues (:meth:`Cues.say`) are spoken when speech is available, else they play the tone of
their kind. Which outputs are used is logged once per process at INFO level. A cue never
raises: a failing output is logged at DEBUG level and replaced by the next one.

On machines without PulseAudio (``libpulse.so.0`` missing) both Qt modules fail to import
and the beep is used.
"""

from __future__ import annotations

import atexit
import importlib
import io
import logging
import shutil
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)

__all__ = ["TONES", "Cues", "shared_cues", "tone_wav"]

#: cue kind -> (frequency Hz, duration s)
TONES: dict[str, tuple[float, float]] = {
    "tick": (880.0, 0.12),
    "countdown": (880.0, 0.12),
    "go": (1320.0, 0.35),
    "start": (1320.0, 0.35),
    "rep": (990.0, 0.15),
    "halfway": (990.0, 0.25),
    "stop": (660.0, 0.45),
    "done": (660.0, 0.45),
}
_announced: set[str] = set()
_tone_dir: Path | None = None


def tone_wav(
    frequency_hz: float, duration_s: float, sampling_rate_hz: int = 22050, volume: float = 0.4
) -> bytes:
    """A mono 16-bit WAV of a sine tone with 10-ms fades (no clicks)."""
    n = max(int(round(duration_s * sampling_rate_hz)), 1)
    t = np.arange(n) / sampling_rate_hz
    fade = np.clip(np.minimum(t, duration_s - t) / 0.01, 0.0, 1.0)
    x = (volume * 32767 * np.sin(2 * np.pi * frequency_hz * t) * fade).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sampling_rate_hz)
        w.writeframes(x.tobytes())
    return buf.getvalue()


def _tone_files() -> dict[str, Path]:
    """The tones as WAV files in a private temporary folder (made once, removed at exit)."""
    global _tone_dir
    if _tone_dir is None:
        _tone_dir = Path(tempfile.mkdtemp(prefix="poise-cues-"))
        atexit.register(shutil.rmtree, _tone_dir, True)
    out = {}
    for kind, (f, d) in TONES.items():
        path = _tone_dir / f"{kind}.wav"
        if not path.exists():
            path.write_bytes(tone_wav(f, d))
        out[kind] = path
    return out


class Cues:
    """Speak or sound cues with the best output available (see the module docstring).

    Parameters
    ----------
    enabled
        ``False`` records the cues (``spoken``, ``played``) without any output (tests) and
        does not probe the Qt modules.
    speech
        Use speech when available (``False``: tones only, e.g. the therapist's countdown).
    importer
        Imports a module by name (default :func:`importlib.import_module`); tests pass a
        fake one to check the choice of outputs.

    Attributes
    ----------
    speech_backend : str or None
        ``"QtTextToSpeech (<engine>)"`` or ``None``.
    sound_backend : str
        ``"QSoundEffect"``, ``"QApplication.beep"`` or ``"off"``.
    spoken, played : list of str
        Texts said and tone kinds played (what was cued, whatever the output).
    """

    def __init__(
        self,
        enabled: bool = True,
        speech: bool = True,
        importer: Callable[[str], ModuleType] | None = None,
    ) -> None:
        self.enabled = enabled
        self.spoken: list[str] = []
        self.played: list[str] = []
        self.speech_backend: str | None = None
        self.sound_backend = "off"
        self._tts: Any = None
        self._effects: dict[str, Any] = {}
        if not enabled:
            return
        imp = importer or importlib.import_module
        if speech:
            self._tts, self.speech_backend = self._open_speech(imp)
        self._effects = self._open_sounds(imp)
        self.sound_backend = "QSoundEffect" if self._effects else "QApplication.beep"
        msg = f"cues: speech {self.speech_backend or 'not available'}, tones {self.sound_backend}"
        if msg not in _announced:
            _announced.add(msg)
            log.info(msg)

    # ------------------------------------------------------------------ outputs
    @staticmethod
    def _open_speech(imp: Callable[[str], ModuleType]) -> tuple[Any, str | None]:
        try:
            mod = imp("PySide6.QtTextToSpeech")
            engines = list(mod.QTextToSpeech.availableEngines())
            if not engines:
                log.debug("QtTextToSpeech has no engine")
                return None, None
            tts = mod.QTextToSpeech(engines[0])
            if tts.state() == mod.QTextToSpeech.State.Error:
                log.debug("QtTextToSpeech engine %s: %s", engines[0], tts.errorString())
                return None, None
            return tts, f"QtTextToSpeech ({engines[0]})"
        except Exception as exc:  # ImportError (e.g. libpulse.so.0 missing), engine failures
            log.debug("no speech: %s", exc)
            return None, None

    @staticmethod
    def _open_sounds(imp: Callable[[str], ModuleType]) -> dict[str, Any]:
        try:
            mm = imp("PySide6.QtMultimedia")
            qtcore = imp("PySide6.QtCore")
            if not list(mm.QMediaDevices.audioOutputs()):
                log.debug("QtMultimedia: no audio output")
                return {}
            effects = {}
            for kind, path in _tone_files().items():
                e = mm.QSoundEffect()
                e.setSource(qtcore.QUrl.fromLocalFile(str(path)))
                e.setVolume(0.8)
                effects[kind] = e
            return effects
        except Exception as exc:
            log.debug("no sound effects: %s", exc)
            return {}

    # ------------------------------------------------------------------ cues
    def say(self, text: str, kind: str = "tick") -> None:
        """Speak ``text``; without speech, play the tone of ``kind``."""
        self.spoken.append(text)
        if not self.enabled:
            return
        if self._tts is not None:
            try:
                self._tts.say(text)
                return
            except Exception as exc:
                log.debug("speech failed, tones from now on: %s", exc)
                self._tts, self.speech_backend = None, None
        self.tone(kind, _record=False)

    def tone(self, kind: str = "tick", _record: bool = True) -> None:
        """Play the short tone of ``kind`` (see :data:`TONES`), else the platform beep."""
        if _record:
            self.played.append(kind)
        if not self.enabled:
            return
        effect = self._effects.get(kind) or self._effects.get("tick")
        if effect is not None:
            try:
                if effect.status() != type(effect).Status.Error:
                    effect.play()
                    return
                log.debug("sound effect %s failed to load", kind)
            except Exception as exc:
                log.debug("sound effect failed: %s", exc)
        try:
            QApplication.beep()
        except Exception as exc:  # a cue never breaks a test or an exercise
            log.debug("beep failed: %s", exc)

    def close(self) -> None:
        """Stop speaking and release the outputs."""
        try:
            if self._tts is not None:
                self._tts.stop()
        except Exception:
            pass
        self._tts = None
        self._effects = {}


_shared: Cues | None = None


def shared_cues() -> Cues:
    """The process's cue output for tones (created on first use; needs a QApplication)."""
    global _shared
    if _shared is None:
        _shared = Cues(speech=False)
    return _shared
