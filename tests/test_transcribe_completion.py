"""Shell completion for the voice commands: ``transcribe`` (its options, formats, models),
``listen`` and ``ask --voice``, the way bash, zsh and fish call termchat at TAB time."""

from __future__ import annotations

import pytest

from tests.test_completion import candidates, values


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_transcribe_and_listen_complete(home, shell):
    assert {"transcribe", "listen"} <= set(values(candidates(home, shell, "termchat ")))
    opts = set(values(candidates(home, shell, "termchat transcribe --")))
    assert {"--model", "--language", "--prompt", "--format", "--output", "--force", "--json",
            "--no-warm", "--api-base", "--key", "--key-env"} <= opts
    assert values(candidates(home, shell, "termchat transcribe x.wav --format ")) == [
        "text", "json", "srt", "vtt"]
    assert values(candidates(home, shell, "termchat transcribe x.wav --format s")) == ["srt"]
    models = values(candidates(home, shell, "termchat transcribe -m "))
    assert models[0] == "local/whisper-tiny.en"
    assert "openai/whisper-1" in models and "groq/whisper-large-v3-turbo" in models
    assert "claude" not in models and "gpt-image" not in models
    assert {"--silence", "--max-seconds", "--language", "--json"} <= set(
        values(candidates(home, shell, "termchat listen --")))
    assert "--voice" in values(candidates(home, shell, "termchat ask --vo"))


def test_transcription_models_stay_out_of_chat_completion(home):
    from termchat.cli import complete as c

    chat = [v if isinstance(v, str) else v[0] for v in c.complete_model("")]
    assert "openai/whisper-1" not in chat and "local/whisper-tiny.en" not in chat
    anything = [v if isinstance(v, str) else v[0] for v in c.complete_any_model("local/wh")]
    assert anything == ["local/whisper-tiny.en"]
    assert c.complete_transcript_format("") == ["text", "json", "srt", "vtt"]
