"""A LiteLLM proxy callback for the gateway tests: what the proxy attributed each request to.

The tests' proxy loads it from its config (``litellm_settings.callbacks:
gateway_log.proxy_logger``; the file is copied beside the config). After every call it appends
one JSON line to ``$TERMCHAT_GATEWAY_LOG``: the model group, the request tags, the end user and
the spend-logs metadata, read from LiteLLM's standard logging payload — what the proxy's own
spend logs and logging integrations receive. Runs inside the proxy's venv (imports LiteLLM).
"""

from __future__ import annotations

import json
import os
from typing import Any

from litellm.integrations.custom_logger import CustomLogger


class GatewayLog(CustomLogger):
    """Appends one JSON object per request to ``$TERMCHAT_GATEWAY_LOG``."""

    def _write(self, kwargs: dict[str, Any], ok: bool) -> None:
        slo = kwargs.get("standard_logging_object") or {}
        meta = slo.get("metadata") or {}
        line = {
            "ok": ok,
            "model_group": slo.get("model_group"),
            "tags": slo.get("request_tags"),
            "end_user": slo.get("end_user"),
            "spend_logs_metadata": meta.get("spend_logs_metadata"),
        }
        with open(os.environ["TERMCHAT_GATEWAY_LOG"], "a", encoding="utf-8") as f:
            f.write(json.dumps(line, default=str) + "\n")

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._write(kwargs, True)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._write(kwargs, False)


proxy_logger = GatewayLog()
