"""Cue helper: picks speech, sound effects or the beep; degrades silently; logs once."""

from __future__ import annotations

import enum
import importlib
import io
import logging
import wave
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from gui import cues as cues_mod  # noqa: E402
from gui.cues import TONES, Cues, shared_cues, tone_wav  # noqa: E402


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except Exception:  # ImportError: libpulse.so.0 missing on this machine
        return False
    return True


def test_fallback_on_this_machine_without_error(qtbot, caplog, monkeypatch):
    monkeypatch.setattr(cues_mod, "_announced", set())
    with caplog.at_level(logging.INFO, logger="gui.cues"):
        c = Cues()
        Cues()  # a second helper does not log again
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1 and infos[0].startswith("cues: speech")
    if not _importable("PySide6.QtTextToSpeech"):
        assert c.speech_backend is None and "not available" in infos[0]
    if not _importable("PySide6.QtMultimedia"):
        assert c.sound_backend == "QApplication.beep"
    assert c.sound_backend in infos[0]
    for kind in TONES:
        c.tone(kind)  # offscreen: the beep is silent, nothing raises
    c.say("Start now", "go")
    c.tone("no-such-kind")
    assert c.spoken == ["Start now"] and c.played[-1] == "no-such-kind"
    c.close()
    assert shared_cues() is shared_cues()


# ------------------------------------------------------------------ fake Qt modules
class _State(enum.Enum):
    Ready = 0
    Error = 3


class _Status(enum.Enum):
    Ready = 2
    Error = 3


def _fake_modules(engines: list[str], outputs: list[str], tts_state=_State.Ready):
    log: list[tuple] = []

    class TTS:
        State = _State

        def __init__(self, engine):
            self.engine = engine

        @staticmethod
        def availableEngines():  # noqa: N802 (Qt name)
            return engines

        def state(self):
            return tts_state

        def errorString(self):  # noqa: N802
            return "broken"

        def say(self, text):
            log.append(("say", self.engine, text))

        def stop(self):
            log.append(("stop",))

    class Effect:
        Status = _Status

        def setSource(self, url):  # noqa: N802
            self.url = url

        def setVolume(self, v):  # noqa: N802
            pass

        def status(self):
            return _Status.Ready

        def play(self):
            log.append(("play", self.url.toLocalFile()))

    from PySide6 import QtCore

    mods = {
        "PySide6.QtTextToSpeech": SimpleNamespace(QTextToSpeech=TTS),
        "PySide6.QtMultimedia": SimpleNamespace(
            QSoundEffect=Effect, QMediaDevices=SimpleNamespace(audioOutputs=lambda: outputs)
        ),
        "PySide6.QtCore": QtCore,
    }
    return mods.__getitem__, log


def test_speech_preferred_when_an_engine_exists(qtbot):
    imp, log = _fake_modules(["speechd"], ["speakers"])
    c = Cues(importer=imp)
    assert c.speech_backend == "QtTextToSpeech (speechd)" and c.sound_backend == "QSoundEffect"
    c.say("3", "tick")
    c.tone("go")
    assert log[0] == ("say", "speechd", "3")
    assert log[1][0] == "play" and log[1][1].endswith("go.wav")
    assert Cues(speech=False, importer=imp).speech_backend is None  # the therapist's tones


def test_no_engine_or_engine_error_gives_tones(qtbot):
    for engines, state in (([], _State.Ready), (["flite"], _State.Error)):
        imp, log = _fake_modules(engines, ["speakers"], state)
        c = Cues(importer=imp)
        assert c.speech_backend is None and c.sound_backend == "QSoundEffect"
        c.say("Well done", "done")
        assert log == [("play", log[0][1])] and log[0][1].endswith("done.wav")


def test_no_audio_output_gives_beep(qtbot):
    imp, log = _fake_modules([], [])
    c = Cues(importer=imp)
    assert c.sound_backend == "QApplication.beep"
    c.tone("tick")
    assert log == []


def test_disabled_records_without_output(qtbot):
    def imp(name):
        raise AssertionError("a disabled helper must not probe the Qt modules")

    c = Cues(enabled=False, importer=imp)
    c.say("Get ready", "countdown")
    c.tone("stop")
    assert c.spoken == ["Get ready"] and c.played == ["stop"] and c.sound_backend == "off"


def test_tone_wav_is_the_right_tone():
    data = tone_wav(880.0, 0.2, sampling_rate_hz=22050)
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float)
    assert len(x) == round(0.2 * 22050)
    assert abs(x[0]) < 200 and abs(x[-1]) < 200  # faded: no click
    spec = np.abs(np.fft.rfft(x))
    assert np.fft.rfftfreq(len(x), 1 / 22050)[np.argmax(spec)] == pytest.approx(880, abs=10)
