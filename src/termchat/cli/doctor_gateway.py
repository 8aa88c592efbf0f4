"""``termchat doctor``'s lines for team gateways (``kind = "litellm_proxy"`` endpoints).

Per gateway: ``gateway NAME`` — the proxy is alive (``/health/liveliness``) and takes your key
(``/v1/models``), else what is wrong and the fix; ``spend NAME`` — your key's spend and budget
from ``/key/info`` (:func:`termchat.client.gateway.team_spend`), or why the proxy does not
report it (it needs the proxy's database).
"""

from __future__ import annotations

from typing import Any


def gateway_checks(out: list[Any], config: Any, check: Any) -> None:
    """Append the gateway lines to ``out``; ``check`` is doctor's ``Check`` class."""
    from ..client.gateway import check_gateways, team_spend

    states = check_gateways(config)
    if not states:
        return
    spends = {s.endpoint: s for s in team_spend(config)}
    for g in states:
        name = f"gateway {g.endpoint}"
        if not g.alive:
            out.append(check(name, "fail", f"the LiteLLM proxy at {g.url} does not answer "
                             f"({g.alive_error})",
                             f"start the proxy, or fix endpoints.{g.endpoint}.api_base"))
            continue
        if g.key_ok is None:
            out.append(check(name, "fail", f"{g.url} is alive, but termchat has no key for it",
                             f"run `termchat keys set {g.endpoint}` with the key your gateway's "
                             "admin gave you"))
            continue
        if not g.key_ok:
            out.append(check(name, "fail", f"{g.url} is alive but refuses the key from "
                             f"{g.key_source} ({g.key_error})",
                             f"run `termchat keys set {g.endpoint}` with a valid key"))
            continue
        out.append(check(name, "ok", f"{g.url} is alive and takes the key from {g.key_source} "
                         f"({g.models} models)"))
        spend = spends.get(g.endpoint)
        if spend is None:
            continue
        if not spend.reported:
            out.append(check(f"spend {g.endpoint}", "info", spend.summary()
                             + "; the proxy reports spend when it runs with its database"))
        elif spend.exceeded:
            out.append(check(f"spend {g.endpoint}", "warn", spend.summary() + ": budget spent; "
                             "the gateway refuses requests", "ask the gateway's admin to raise "
                             "the budget, or wait for it to reset"))
        else:
            out.append(check(f"spend {g.endpoint}", "ok", spend.summary()))
