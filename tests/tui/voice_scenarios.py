"""Chat voice-mode scenarios driven by Textual's Pilot, each run in its own process
(``python -m tests.tui.voice_scenarios NAME ARGS_JSON``): PortAudio reads the ALSA
configuration once per process, so each scenario gets the real capture/playback device its
test set up (tests/support/alsa_mic.py). It prints one JSON line of what it saw; the test
asserts on it and on the loopback server's requests. Also used by bench/bench_voice.py."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any


async def scenario(name: str, args: dict[str, Any]) -> dict[str, Any]:
    from termchat.tui.voice import VoiceBar
    from tests.tui.helpers import make_app, type_and_send, wait_for, wait_idle

    home = Path(os.environ["TERMCHAT_HOME"])
    fake = SimpleNamespace(base_url=args["base_url"])
    # the core is started by the first message (not after the first frame): the UI's pulse is
    # measured against recording and transcribing, not LiteLLM's import
    # (with "warm": the warm core is started and waited for first)
    app = make_app(home, fake, extra_config=args.get("config", ""), load_core=bool(args.get("warm")))
    out: dict[str, Any] = {"notes": [], "said": []}
    notify = app.notify

    def noting(message: Any, **kw: Any) -> None:
        out["notes"].append(str(message))
        notify(message, **kw)

    app.notify = noting  # type: ignore[method-assign]
    async with app.run_test(size=(110, 30)) as pilot:
        ticks: list[float] = []
        app.set_interval(0.05, lambda: ticks.append(time.monotonic()))
        if name == "bench":
            # ``repeat`` recordings in a row (the capture file plays again at each one): the
            # seconds from the end of each recording to its transcript in the prompt
            if args.get("warm"):
                await app.core.ready()
            out["latencies"], out["prompts"] = [], []
            for _ in range(int(args.get("repeat", 1))):
                app.prompt.text = ""
                app.voice_latency = None
                await pilot.press("f5")
                await wait_for(pilot, lambda: app.voice_latency is not None
                               or any("error" in n or "no speech" in n for n in out["notes"]),
                               300, "the transcript")
                out["latencies"].append(app.voice_latency)
                out["prompts"].append(app.prompt.text)
                await pilot.pause(0.3)
            out["warm"] = app.core.use_warm
        elif name == "record":
            bar = app.voice_bar()
            shown: list[str] = []
            update = bar.update

            def updating(content: Any = "", **kw: Any) -> None:
                shown.append(str(content))
                if str(content) == "transcribing…":
                    out.setdefault("recorded_at", time.monotonic())
                update(content, **kw)

            bar.update = updating  # type: ignore[method-assign]
            await pilot.pause()
            assert isinstance(bar, VoiceBar) and not bar.display
            if args.get("warm"):
                await app.core.ready()
                assert app.core.use_warm
            await pilot.press("f5")
            ticks.clear()  # the UI's pulse from here: recording and transcribing
            await wait_for(pilot, lambda: any("● REC" in t for t in shown), 30, "the meter")
            out["meter"] = next(t for t in shown if "● REC" in t)
            if args.get("cancel_after") is not None:
                await wait_for(pilot, lambda: bar.seconds >= args["cancel_after"], 60, "recording time")
                await pilot.press("escape")
                await wait_for(pilot, lambda: not bar.display, 10, "the meter to go")
                await pilot.pause(1.5)
                out["prompt"] = app.prompt.text
                out["bar_texts"] = [t for t in dict.fromkeys(shown) if "● REC" not in t]
                out["recording"] = app._voice_recorder is not None
                return out
            if args.get("stop_after") is not None:
                await wait_for(pilot, lambda: bar.seconds >= args["stop_after"], 60, "recording time")
                out["meter_late"] = str(bar.render())
                await pilot.press("f5")
            await wait_for(pilot, lambda: app.prompt.text.strip() or app.conv is not None
                           or any("error" in n or "no speech" in n for n in out["notes"]),
                           180, "the transcript")
            out["prompt"] = app.prompt.text
            out["warm"] = app.core.use_warm
            if app.core.use_warm:
                from termchat import warm

                out["warm_status"] = warm.control("status", warm.socket_path())
            out["bar_shown_after"] = bool(bar.display)
            out["bar_texts"] = [t for t in dict.fromkeys(shown) if "● REC" not in t]
            out["latency"] = app.voice_latency
            gaps = [b - a for a, b in itertools.pairwise(ticks)]
            out["max_ui_gap_s"] = max(gaps) if gaps else None
            rec = [t for t in ticks if t <= out.get("recorded_at", 0)]
            gaps = [b - a for a, b in itertools.pairwise(rec)]
            out["max_ui_gap_recording_s"] = max(gaps) if gaps else None
            if app.conv is not None:
                await wait_for(pilot, lambda: len(app.store.messages(app.conv.id)) >= 2, 120, "the reply")
                await wait_idle(pilot)
                out["messages"] = [(r.role, r.content) for r in app.store.messages(app.conv.id)]
        elif name in ("read_aloud", "esc_speech"):
            speaker = app.speaker()
            say = speaker.say

            def saying(text: str) -> None:
                out["said"].append([text, app.busy])
                say(text)

            speaker.say = saying  # type: ignore[method-assign]
            await type_and_send(pilot, "talk to me")
            if name == "esc_speech":
                await wait_for(pilot, lambda: len(speaker.spoken) >= 1, 60, "the first sentence played")
                await pilot.press("escape")
                stopped = time.monotonic()
                await wait_idle(pilot)
                await wait_for(pilot, lambda: not speaker.active, 10, "speech to stop")
                out["stop_s"] = time.monotonic() - stopped
                out["spoken_at_esc"] = len(speaker.spoken)
                await pilot.pause(1.5)  # nothing more is spoken afterwards
            else:
                await wait_idle(pilot)
                await wait_for(pilot, lambda: not speaker.active, 60, "speech to end")
            out["spoken"] = list(speaker.spoken)
            out["reply"] = app.store.messages(app.conv.id)[-1].content
            out["interrupted"] = bool(app.store.messages(app.conv.id)[-1].interrupted)
    return out


def main() -> None:
    name, args = sys.argv[1], json.loads(sys.argv[2])
    result = asyncio.run(scenario(name, args))
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
    # worker threads still importing or waiting (the in-process core) must not hold the exit
    os._exit(0)


if __name__ == "__main__":
    main()
