"""Regenerate (default) or check (--check) the committed contracts: each service's openapi.json,
infra/asyncapi.json and infra/nats/streams.json. `make contracts` runs it."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from incidents_common.contracts import openapi_text, shared_contract_files

ROOT = Path(__file__).resolve().parent.parent

# service folder → (package, settings class module)
SERVICES = {
    "collector": "collector",
    "classifier": "classifier",
    "routing": "routing",
    "api-gateway": "api_gateway",
}


def expected_files() -> dict[Path, str]:
    files = shared_contract_files(ROOT)
    for folder, package in SERVICES.items():
        main = importlib.import_module(f"{package}.main")
        config = importlib.import_module(f"{package}.config")
        app = main.create_app(config.Settings(nats_enabled=False, database_url="sqlite+aiosqlite://"))
        files[ROOT / "services" / folder / "openapi.json"] = openapi_text(app)
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
