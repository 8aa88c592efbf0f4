"""Shell completion: the CLI run the way bash, zsh and fish run it (Typer's protocol: the
`_TERMCHAT_COMPLETE` instruction plus COMP_WORDS/COMP_CWORD or _TYPER_COMPLETE_ARGS), the
checked-in scripts (up to date, and working in a real bash), and what a TAB may import."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, clean_env, needs, write_config

COMPLETIONS = ROOT / "completions"
HEAVY = ("litellm", "textual", "openai", "PIL", "sounddevice", "pydantic", "rich")


def complete(home: Path, shell: str, line: str, extra_env: dict[str, str] | None = None,
             python_flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run `termchat` as `shell`'s completion function does for the command line ``line``
    (the cursor at its end)."""
    env = clean_env(home, **(extra_env or {}))
    if shell == "bash":
        words = line.split(" ")
        env.update(_TERMCHAT_COMPLETE="complete_bash", COMP_WORDS=line,
                   COMP_CWORD=str(len(words) - 1))
    elif shell == "zsh":
        env.update(_TERMCHAT_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS=line)
    else:
        env.update(_TERMCHAT_COMPLETE="complete_fish", _TYPER_COMPLETE_ARGS=line,
                   _TYPER_COMPLETE_FISH_ACTION="get-args")
    proc = subprocess.run([sys.executable, *python_flags, "-m", "termchat"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=str(home))
    assert proc.returncode == 0, proc.stderr
    return proc


def candidates(home: Path, shell: str, line: str, **kw) -> list[tuple[str, str]]:
    """The (value, description) pairs the shell would offer; bash has no descriptions."""
    out = complete(home, shell, line, **kw).stdout
    if shell == "bash":
        return [(v, "") for v in out.splitlines() if v]
    if shell == "fish":
        return [(*ln.split("\t", 1), "")[:2] for ln in out.splitlines() if ln]
    if out.strip() == "_files":
        return []
    m = re.fullmatch(r"_arguments '\*: :\(\((.*)\)\)'\s*", out, re.S)
    assert m, out
    pairs = []
    for item in m.group(1).split("\n"):
        vm = re.fullmatch(r'"((?:[^"]|"")*)"(?::"((?:[^"]|"")*)")?', item)
        assert vm, item
        pairs.append((vm.group(1).replace('""', '"'), (vm.group(2) or "").replace('""', '"')))
    return pairs


def values(pairs: list[tuple[str, str]]) -> list[str]:
    return [v for v, _ in pairs]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_model_aliases_and_ids(home, shell):
    pairs = candidates(home, shell, "termchat ask -m cl")
    vals = values(pairs)
    assert "claude" in vals
    assert all(v.startswith("cl") for v in vals)
    if shell != "bash":
        assert dict(pairs)["claude"] == "alias of anthropic/claude-sonnet-5-5"
    vals = values(candidates(home, shell, "termchat ask --model anthropic/claude-sonnet-5"))
    assert "anthropic/claude-sonnet-5-5" in vals


def test_user_aliases_endpoints_and_cached_local_models(home, fake, cli):
    write_config(home, '[aliases]\nfastie = "haiku"\npic = "gpt-image"\n'
                 f'[endpoints.lab]\napi_base = "{fake.base_url}"\nmodels = ["house-model"]\n')
    assert "fastie" in values(candidates(home, "bash", "termchat ask -m fa"))
    assert "lab/house-model" in values(candidates(home, "bash", "termchat ask -m lab/"))
    # live models come from the cache that `termchat models` writes; TAB itself asks no server
    assert cli("models", "--available", env={"OLLAMA_API_BASE": fake.url}).returncode == 0
    before = len(fake.requests)
    vals = values(candidates(home, "bash", "termchat ask -m ", extra_env={"OLLAMA_API_BASE": fake.url}))
    assert {"ollama_chat/llama3.2", "lab/fake-small", "claude", "fastie"} <= set(vals)
    assert "pic" not in vals and "gpt-image" not in vals  # image aliases are not chat models
    assert len(fake.requests) == before
    fish = dict(candidates(home, "fish", "termchat ask -m ollama_chat/"))
    assert fish["ollama_chat/llama3.2"] == "live, ollama"


def test_conversation_ids_with_titles(home):
    assert values(candidates(home, "bash", "termchat ask --cid ")) == []
    assert not (home / "data" / "termchat.db").exists()  # completion never creates the store
    from termchat.store import Store

    store = Store()
    lisbon = store.create_conversation("openai/gpt-5.5", title="Trip to Lisbon")
    other = store.create_conversation("anthropic/claude-sonnet-5-5", title="Refactor [core]")
    store.close()
    pairs = candidates(home, "zsh", "termchat ask --cid ")
    assert {lisbon.id, other.id} <= set(values(pairs))
    assert dict(pairs)[lisbon.id] == "Trip to Lisbon"
    assert dict(pairs)[other.id] == "Refactor [core]"
    assert dict(candidates(home, "fish", "termchat ask --cid "))[lisbon.id] == "Trip to Lisbon"
    prefix = lisbon.id[:12]
    assert values(candidates(home, "bash", f"termchat ask --cid {prefix}")) == [lisbon.id]


def test_subcommands_options_and_choices(home):
    assert {"aliases", "doctor", "models", "ask"} <= set(values(candidates(home, "bash", "termchat ")))
    assert {"info", "default", "pull", "rm"} <= set(values(candidates(home, "bash", "termchat models ")))
    assert {"--model", "--cid", "--system"} <= set(values(candidates(home, "bash", "termchat ask --")))
    assert values(candidates(home, "bash", "termchat models --mode ")) == [
        "chat", "image", "speech", "transcription", "embedding"]
    assert "anthropic" in values(candidates(home, "bash", "termchat models --provider anth"))
    assert "claude" in values(candidates(home, "bash", "termchat models info cl"))
    write_config(home, '[aliases]\nmine = "gpt"\n')
    assert values(candidates(home, "bash", "termchat aliases remove ")) == ["mine"]


def test_completion_functions_for_other_commands(home):
    from termchat.cli import complete as c
    from termchat.core.mediaspec import IMAGE_MODEL_OPTIONS, OPENAI_VOICES

    assert c.complete_voice("s") == ["sage", "shimmer"]
    assert c.VOICES is OPENAI_VOICES and c.complete_voice("") == list(OPENAI_VOICES)
    assert c.complete_audio_format("") == ["mp3", "wav", "opus", "flac", "aac", "pcm"]
    assert c.complete_image_size("1024x") == ["1024x1024", "1024x1536", "1024x1792"]
    every_size = {s for opts in IMAGE_MODEL_OPTIONS.values() for s in opts["size"]}
    assert set(c.complete_image_size("")) == every_size and "auto" in every_size
    image = values_of(c.complete_image_model("gpt-im"))
    assert "gpt-image" in image
    assert "openai/gpt-image-1" in values_of(c.complete_image_model("openai/gpt-im"))
    assert "claude" not in values_of(c.complete_image_model(""))
    speech = values_of(c.complete_speech_model(""))
    assert "tts" in speech and "openai/gpt-4o-mini-tts" in speech and "gpt" not in speech
    chat = values_of(c.complete_model("g"))
    assert "gpt" in chat and "gpt-image" not in chat and "tts" not in values_of(c.complete_model("t"))
    assert c.complete_cid("") == []


def values_of(items: list) -> list[str]:
    return [i if isinstance(i, str) else i[0] for i in items]


def test_catalog_id_cache_is_rebuilt_when_litellm_changes(home):
    from termchat.core import modelcache

    path = home / "cache" / "catalog_ids.json"
    ids = modelcache.catalog_ids()
    assert "anthropic/claude-sonnet-5-5" in ids["chat"]
    doc = json.loads(path.read_text())
    assert doc["key"] == modelcache.catalog_stamp()
    doc["key"], doc["modes"]["chat"] = "some/other/litellm:1:2", ["stale/model"]
    path.write_text(json.dumps(doc))
    assert "stale/model" not in modelcache.catalog_ids()["chat"]
    assert json.loads(path.read_text())["key"] == modelcache.catalog_stamp()


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_tab_imports_nothing_heavy(home, shell):
    """litellm/textual never; and neither pydantic nor rich (what complete.py spares Typer)."""
    for line in ("termchat ask -m cl", "termchat ask --cid "):
        proc = complete(home, shell, line, python_flags=("-X", "importtime"))
        mods = {ln.split("|")[-1].strip() for ln in proc.stderr.splitlines() if "|" in ln}
        heavy = sorted(m for m in mods if m.split(".")[0] in HEAVY)
        assert heavy == [], f"{shell} completion of {line!r} imported {heavy}"
        assert "termchat.cli.complete" in mods


def test_importing_the_cli_imports_no_provider_sdk(home):
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import termchat.cli"],
                          capture_output=True, text=True, env=clean_env(home), timeout=60)
    assert proc.returncode == 0, proc.stderr
    mods = {ln.split("|")[-1].strip() for ln in proc.stderr.splitlines() if "|" in ln}
    assert not [m for m in mods if m.split(".")[0] in ("litellm", "textual", "openai", "PIL",
                                                        "sounddevice")]


def test_checked_in_scripts_are_up_to_date(home):
    proc = subprocess.run([sys.executable, "-m", "termchat.cli.completion_scripts", "--check"],
                          capture_output=True, text=True, env=clean_env(home), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (COMPLETIONS / "_termchat").read_text().startswith("#compdef termchat\n")
    for name in ("termchat.bash", "_termchat", "termchat.fish"):
        assert "_TERMCHAT_COMPLETE=complete_" in (COMPLETIONS / name).read_text()


def test_the_bash_script_completes_in_a_real_bash(home):
    needs(shutil.which("bash") is not None, "bash is not installed")
    bindir = Path(sys.executable).parent
    needs((bindir / "termchat").exists(),
          "the termchat console script is not installed next to this Python")
    env = clean_env(home, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    script = (f"source '{COMPLETIONS / 'termchat.bash'}'\n"
              "complete -p termchat\n"
              "COMP_WORDS=(termchat ask -m cl); COMP_CWORD=3\n"
              "_termchat_completion termchat\n"
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "complete -o default -F _termchat_completion termchat"
    assert "claude" in lines[1:]


def test_voice_and_size_options_complete(home):
    """`speak --voice` and `image --size` are wired to their completers (not file names)."""
    from termchat.core.mediaspec import OPENAI_VOICES

    proc = complete(home, "bash", "termchat speak --voice ", python_flags=("-X", "importtime"))
    mods = {ln.split("|")[-1].strip() for ln in proc.stderr.splitlines() if "|" in ln}
    assert "termchat.core.mediaspec" in mods  # the core's list, read as data
    assert not {"termchat.core.media", "termchat.core.catalog", "termchat.media"} & mods

    for shell in ("bash", "zsh", "fish"):
        assert values(candidates(home, shell, "termchat speak --voice ")) == list(OPENAI_VOICES)
        assert values(candidates(home, shell, "termchat image --size 1024x")) == [
            "1024x1024", "1024x1536", "1024x1792"]


def test_install_completion_still_works(home, tmp_path):
    fake_home = tmp_path / "user"
    fake_home.mkdir()
    env = clean_env(home, HOME=str(fake_home), _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    proc = subprocess.run([sys.executable, "-m", "termchat", "--install-completion", "bash"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    installed = (fake_home / ".bash_completions" / "termchat.sh").read_text()
    checked_in = (COMPLETIONS / "termchat.bash").read_text()
    assert installed.strip() in checked_in  # the same script, ours only adds a header
