"""Team gateways for both fronts: the spend and budget of your key, and the gateway's health.

A gateway is a named endpoint with ``kind = "litellm_proxy"`` (a LiteLLM proxy; see
:mod:`termchat.core.gateway`). This module asks each one, with plain HTTP (no LiteLLM, no warm
core), concurrently, each within ``timeout`` seconds:

- :func:`team_spend` — what the proxy says your key has spent and may spend
  (``GET /key/info``). Call it from any front::

      from termchat.client.gateway import team_spend
      for s in team_spend(config):          # config: termchat.config.Config (or None)
          if s.reported:
              print(s.endpoint, s.spend_usd, s.max_budget_usd, s.remaining_usd)
          else:
              print(s.endpoint, "spend not reported:", s.error)

  ``/key/info`` needs the proxy's database (Postgres): a proxy without one reports no spend,
  and the entry says so in ``error`` rather than raising.
- :func:`check_gateways` — is the proxy alive (``/health/liveliness``) and does it take your
  key (``/v1/models``); ``termchat doctor`` shows it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Seconds each gateway gets to answer one question.
GATEWAY_TIMEOUT = 2.0


def gateways(config: Any) -> dict[str, dict[str, Any]]:
    """The configured LiteLLM proxy endpoints: name -> its ``[endpoints.NAME]`` table."""
    from ..core import gateway

    endpoints = config.endpoints if config is not None else {}
    return {name: dict(ep) for name, ep in endpoints.items() if gateway.is_proxy(ep)}


def _key(name: str, ep: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str | None, str | None]:
    from ..core.errors import ConfigError, register_secret
    from ..core.keys import resolve_key

    try:
        key, source = resolve_key(name, endpoint=ep, env=env)
    except ConfigError:  # a malformed keys file: doctor's keys check reports it
        return None, None
    register_secret(key)
    return key, source


def _usd(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass
class TeamSpend:
    """The spend of your key at one gateway, as the proxy reports it.

    Attributes:
        endpoint: the endpoint's name (``team`` for ``[endpoints.team]``).
        url: the proxy's root URL.
        spend_usd: USD spent by the key — in the current budget window when the key has a
            ``budget_duration``, else over its lifetime — or ``None`` when not reported.
        max_budget_usd: the key's budget in USD, or ``None`` (no budget, or not reported).
        budget_duration: the budget's window as the proxy writes it (``"30d"``, ``"1h"``), or
            ``None``.
        budget_reset_at: when the window ends and the spend goes back to 0 (ISO 8601, as the
            proxy sends it), or ``None``.
        key_alias: the key's name at the proxy, or ``None``.
        team_id: the proxy's team of the key, or ``None``.
        error: why there are no figures (``no key for this gateway``, ``HTTP 400
            (no_db_connection)``, ``connection refused``…), or ``None``.
    """

    endpoint: str
    url: str
    spend_usd: float | None = None
    max_budget_usd: float | None = None
    budget_duration: str | None = None
    budget_reset_at: str | None = None
    key_alias: str | None = None
    team_id: str | None = None
    error: str | None = None

    @property
    def reported(self) -> bool:
        """Whether the proxy reported the key's spend."""
        return self.spend_usd is not None

    @property
    def remaining_usd(self) -> float | None:
        """USD left in the budget (never below 0), or ``None`` without a budget."""
        if self.max_budget_usd is None or self.spend_usd is None:
            return None
        return max(0.0, self.max_budget_usd - self.spend_usd)

    @property
    def exceeded(self) -> bool:
        """Whether the spend has reached the budget (the proxy then refuses requests)."""
        return self.max_budget_usd is not None and (self.spend_usd or 0.0) >= self.max_budget_usd

    def summary(self) -> str:
        """One line: ``$1.2300 of $10.00 spent (30d budget, resets 2026-01-01T00:00:00Z)``."""
        if not self.reported:
            return f"spend not reported ({self.error})"
        text = f"${self.spend_usd:.4f}"
        if self.max_budget_usd is None:
            return text + " spent (no budget set)"
        text += f" of ${self.max_budget_usd:.2f} spent"
        window = [f"{self.budget_duration} budget"] if self.budget_duration else []
        if self.budget_reset_at:
            window.append(f"resets {self.budget_reset_at}")
        return text + (f" ({', '.join(window)})" if window else "")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every attribute plus ``reported``, ``remaining_usd``, ``exceeded``."""
        return {
            "endpoint": self.endpoint, "url": self.url, "spend_usd": self.spend_usd,
            "max_budget_usd": self.max_budget_usd, "remaining_usd": self.remaining_usd,
            "budget_duration": self.budget_duration, "budget_reset_at": self.budget_reset_at,
            "key_alias": self.key_alias, "team_id": self.team_id, "reported": self.reported,
            "exceeded": self.exceeded, "error": self.error,
        }


def _describe(exc: BaseException) -> str:
    from ..core import gateway
    from ..core.probes import describe_error

    code = gateway.error_code(exc)
    return describe_error(exc) + (f" ({code})" if code else "")


def _spend_of(name: str, ep: Mapping[str, Any], env: Mapping[str, str], timeout: float) -> TeamSpend:
    from ..core import gateway

    out = TeamSpend(name, gateway.proxy_root(str(ep.get("api_base", ""))))
    key, _ = _key(name, ep, env)
    if not key:
        out.error = "no key for this gateway"
        return out
    try:
        info = gateway.key_info(str(ep["api_base"]), key, timeout)
    except Exception as exc:  # OSError, ValueError, http.client errors: reported, not raised
        out.error = _describe(exc)
        return out
    out.spend_usd = _usd(info.get("spend"))
    if out.spend_usd is None:
        out.error = "the proxy's key information has no spend"
    out.max_budget_usd = _usd(info.get("max_budget"))
    for attr in ("budget_duration", "budget_reset_at", "key_alias", "team_id"):
        value = info.get(attr)
        setattr(out, attr, str(value) if value is not None else None)
    return out


def team_spend(config: Any, env: Mapping[str, str] | None = None,
               timeout: float = GATEWAY_TIMEOUT) -> list[TeamSpend]:
    """The spend and budget of your key at every gateway (``kind = "litellm_proxy"``
    endpoints of ``config``, a :class:`termchat.config.Config` or ``None``), in config order,
    from each proxy's ``GET /key/info`` — asked concurrently, ``timeout`` seconds each.

    Returns one :class:`TeamSpend` per gateway (``[]`` without gateways); a gateway that does
    not report (no key, down, no database) has ``spend_usd = None`` and ``error`` set. Amounts
    are USD as the proxy counts them. Never raises; makes no request to any other server.
    """
    from ..core.probes import run_all

    env = os.environ if env is None else env
    eps = gateways(config)
    results: dict[str, TeamSpend] = {}

    def task(name: str, ep: dict[str, Any]) -> Any:
        def run() -> None:
            results[name] = _spend_of(name, ep, env, timeout)
        return run

    run_all([task(n, ep) for n, ep in eps.items()], timeout * 2 + 0.5)
    return [results.get(n) or TeamSpend(n, str(ep.get("api_base", "")), error="timed out")
            for n, ep in eps.items()]


@dataclass
class GatewayHealth:
    """One gateway's state for ``termchat doctor``.

    Attributes:
        endpoint: the endpoint's name. url: the proxy's root URL.
        alive: whether ``/health/liveliness`` answered. alive_error: why not, or ``None``.
        key_source: where the key came from (``keys file``, ``env:NAME``…), or ``None``.
        key_ok: whether ``/v1/models`` took the key (``None``: not asked — no key, or down).
        key_error: why the key was refused (``HTTP 401 (auth_error)``…), or ``None``.
        models: how many models the key may use (when ``key_ok``).
    """

    endpoint: str
    url: str
    alive: bool = False
    alive_error: str | None = None
    key_source: str | None = None
    key_ok: bool | None = None
    key_error: str | None = None
    models: int = 0


def _health_of(name: str, ep: Mapping[str, Any], env: Mapping[str, str], timeout: float) -> GatewayHealth:
    from ..core import gateway

    base = str(ep.get("api_base", ""))
    out = GatewayHealth(name, gateway.proxy_root(base))
    try:
        gateway.health(base, timeout)
        out.alive = True
    except Exception as exc:  # reported, not raised
        out.alive_error = _describe(exc)
        return out
    key, out.key_source = _key(name, ep, env)
    if not key:
        return out
    try:
        out.models = gateway.key_accepted(base, key, timeout)
        out.key_ok = True
    except Exception as exc:  # reported, not raised
        out.key_ok = False
        out.key_error = _describe(exc)
    return out


def check_gateways(config: Any, env: Mapping[str, str] | None = None,
                   timeout: float = GATEWAY_TIMEOUT) -> list[GatewayHealth]:
    """Every gateway's health and whether it takes your key, concurrently (``timeout`` seconds
    per request). Never raises."""
    from ..core.probes import run_all

    env = os.environ if env is None else env
    eps = gateways(config)
    results: dict[str, GatewayHealth] = {}

    def task(name: str, ep: dict[str, Any]) -> Any:
        def run() -> None:
            results[name] = _health_of(name, ep, env, timeout)
        return run

    run_all([task(n, ep) for n, ep in eps.items()], timeout * 2 + 0.5)
    return [results.get(n) or GatewayHealth(n, str(ep.get("api_base", "")), alive_error="timed out")
            for n, ep in eps.items()]
