"""Routes the load generator calls (``data/routes.yaml``) and the ready-to-send targets.

A :class:`Route` says how to call one endpoint (method, path, JSON body template); a
:class:`Target` is a route bound to a base URL with its bodies rendered to bytes up front, so
the generator's hot loop only picks bytes and sends them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError
from loadtests.payloads import DATA_DIR, KINDS, load_payloads

__all__ = ["Route", "Target", "build_targets", "load_routes", "render_bodies"]

_ROUTE_KEYS = {"endpoint", "method", "path", "body", "headers"}


@dataclass(frozen=True)
class Route:
    name: str
    endpoint: str
    path: str
    body: Any
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)

    def kinds(self) -> set[str]:
        """Payload kinds the body template refers to."""
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, str) and node.startswith("$"):
                found.add(node[1:])
            elif isinstance(node, Mapping):
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(self.body)
        return found


@dataclass(frozen=True)
class Target:
    """One route bound to a URL; ``bodies`` are complete request bodies."""

    route: str
    method: str
    url: str
    headers: dict[str, str]
    bodies: list[bytes]

    def to_json(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "method": self.method,
            "url": self.url,
            "headers": self.headers,
            "bodies": [b.decode("utf-8") for b in self.bodies],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Target:
        return cls(
            str(data["route"]),
            str(data["method"]),
            str(data["url"]),
            {str(k): str(v) for k, v in data["headers"].items()},
            [str(b).encode("utf-8") for b in data["bodies"]],
        )


def load_routes(path: Path | None = None) -> dict[str, Route]:
    """The route table; errors name the file and the route's field."""
    path = path or DATA_DIR / "routes.yaml"
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("no such route table", source=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"not YAML ({exc})", source=str(path), line=line) from None
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("expected a mapping of route name -> route", source=str(path))
    routes: dict[str, Route] = {}
    for name, spec in raw.items():
        if not isinstance(spec, Mapping):
            raise ConfigError("expected a mapping", source=str(path), field=str(name))
        unknown = sorted(set(spec) - _ROUTE_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {unknown}; expected {sorted(_ROUTE_KEYS)}",
                source=str(path),
                field=f"{name}.{unknown[0]}",
            )
        for key in ("endpoint", "path"):
            if not isinstance(spec.get(key), str) or not spec[key]:
                raise ConfigError("is required (a string)", source=str(path), field=f"{name}.{key}")
        route = Route(
            name=str(name),
            endpoint=spec["endpoint"],
            path=spec["path"],
            body=spec.get("body"),
            method=str(spec.get("method", "POST")).upper(),
            headers={str(k): str(v) for k, v in dict(spec.get("headers") or {}).items()},
        )
        bad = sorted(route.kinds() - set(KINDS))
        if bad:
            raise ConfigError(
                f"unknown payload kind(s) {bad}; known: {sorted(KINDS)}",
                source=str(path),
                field=f"{name}.body",
            )
        routes[route.name] = route
    return routes


def render_bodies(route: Route, payloads: Mapping[str, list[str]]) -> list[bytes]:
    """One JSON body per payload (the longest payload list of the kinds used sets the count;
    shorter ones cycle)."""
    kinds = sorted(route.kinds())
    if route.body is None:
        return [b""]
    count = max((len(payloads[k]) for k in kinds), default=1)

    def fill(node: Any, i: int) -> Any:
        if isinstance(node, str) and node.startswith("$") and node[1:] in payloads:
            items = payloads[node[1:]]
            return items[i % len(items)]
        if isinstance(node, Mapping):
            return {k: fill(v, i) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v, i) for v in node]
        return node

    return [
        json.dumps(fill(route.body, i), separators=(",", ":")).encode("utf-8") for i in range(count)
    ]


def build_targets(
    names: Iterable[str],
    base_urls: Mapping[str, str],
    *,
    routes: Mapping[str, Route] | None = None,
    data_dir: Path = DATA_DIR,
    url: str | None = None,
) -> dict[str, Target]:
    """Targets for ``names``: each route's endpoint is looked up in ``base_urls`` (what
    ``Platform.endpoints()`` gives), or every route goes to ``url`` when it is given."""
    table = routes if routes is not None else load_routes()
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in table]
    if unknown:
        raise ConfigError(
            f"unknown route(s) {unknown}; the route table has {sorted(table)}", field="load.mix"
        )
    payloads = load_payloads(set().union(*(table[n].kinds() for n in wanted)), data_dir)
    targets: dict[str, Target] = {}
    for name in wanted:
        route = table[name]
        base = url or base_urls.get(route.endpoint)
        if not base:
            raise ConfigError(
                f"route {name!r} needs endpoint {route.endpoint!r}, which the platform does not "
                f"offer (it offers {sorted(base_urls)})",
                field=f"load.mix.{name}",
            )
        headers = {"content-type": "application/json", **route.headers}
        targets[name] = Target(
            name,
            route.method,
            base.rstrip("/") + route.path,
            headers,
            render_bodies(route, payloads),
        )
    return targets
