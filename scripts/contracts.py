"""Regenerate (default) or check (--check) the committed contracts: each service's openapi.json,
infra/asyncapi.json, infra/nats/streams.json, the NATS permissions (infra/nats/regions.conf,
compose.conf and the example cluster's cluster/n*.conf) and docs/configuration.md. `make contracts` runs it."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from incidents_common import natsauth
from incidents_common.contracts import openapi_text, shared_contract_files
from incidents_common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parent.parent

# service folder → (package, settings class module)
SERVICES = {
    "collector": "collector",
    "classifier": "classifier",
    "routing": "routing",
    "api-gateway": "api_gateway",
}


def configuration_markdown(settings_classes: dict[str, type[Any]]) -> str:
    """docs/configuration.md: every environment variable of every service, from the Settings classes."""
    lines = [
        "# Configuration",
        "",
        "Generated from each service's Settings class by `make contracts`; do not edit by hand.",
        "Every variable can also be set in a `.env` file in the working directory.",
        "",
    ]
    for folder, settings_class in settings_classes.items():
        prefix = settings_class.model_config.get("env_prefix", "")
        lines += [f"## {folder}", "", "| variable | default | meaning |", "|---|---|---|"]
        for name, field in settings_class.model_fields.items():
            default = field.get_default(call_default_factory=True)
            shown = "" if default in ("", None) else str(default)
            inherited = ServiceSettings.model_fields.get(name)
            description = field.description or (inherited.description if inherited else "") or ""
            meaning = description.replace("|", "\\|")
            lines.append(f"| `{prefix}{name.upper()}` | `{shown}` | {meaning} |".replace("``", "(empty)"))
        lines.append("")
    return "\n".join(lines)


def expected_files() -> dict[Path, str]:
    files = shared_contract_files(ROOT)
    settings_classes: dict[str, type[Any]] = {}
    for folder, package in SERVICES.items():
        main = importlib.import_module(f"{package}.main")
        config = importlib.import_module(f"{package}.config")
        settings_classes[folder] = config.Settings
        app = main.create_app(config.Settings(nats_enabled=False, database_url="sqlite+aiosqlite://"))
        files[ROOT / "services" / folder / "openapi.json"] = openapi_text(app)
    # The console serves pages, not an API (it has no OpenAPI of its own): only its settings are documented.
    settings_classes["console"] = importlib.import_module("console.config").Settings
    files[ROOT / "docs" / "configuration.md"] = configuration_markdown(settings_classes)
    files[ROOT / "infra" / "nats" / "regions.conf"] = natsauth.render()
    files[ROOT / "infra" / "nats" / "compose.conf"] = natsauth.render(include_regions=False)
    nodes = natsauth.example_cluster()
    for node in nodes:
        files[ROOT / "infra" / "nats" / "cluster" / f"{node.name}.conf"] = natsauth.render_cluster_node(node, nodes)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when a committed file differs from the code")
    args = parser.parse_args(argv)
    stale = []
    for path, text in expected_files().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.relative_to(ROOT))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("stale contracts (run `make contracts`): " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
