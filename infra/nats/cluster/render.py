"""Write (default) or check (--check) the configs of a 3-node JetStream cluster, n1.conf, n2.conf, n3.conf.

    python infra/nats/cluster/render.py            # the committed local example: 127.0.0.1, here
    python infra/nats/cluster/render.py --check    # exit 1 when a committed file differs from the code
    python infra/nats/cluster/render.py --hosts 10.0.0.11,10.0.0.12,10.0.0.13 --out /etc/nats

The rules (users, permissions, route authorization, `sync_interval: always`) live in
incidents_common.natsauth (`render_cluster_node`); docs/operations-cluster.md explains the cluster.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from incidents_common.natsauth import example_cluster, render_cluster_node

HERE = Path(__file__).resolve().parent


def rendered(
    hosts: list[str] | None = None, store_dir: str | None = None, data_dir: Path | None = None
) -> dict[str, str]:
    """File name -> config text of every node."""
    options = ""
    if hosts:
        options += " --hosts " + ",".join(hosts)
    if store_dir:
        options += f" --store-dir {store_dir}"
    if data_dir is not None:
        options += " --data-dir <store>"
    nodes = example_cluster(hosts, store_dir)
    return {f"{node.name}.conf": render_cluster_node(node, nodes, data_dir=data_dir, options=options) for node in nodes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", help="three (or more) comma-separated hosts, one node each on ports 4222/6222/8222")
    parser.add_argument(
        "--store-dir", help="JetStream storage (default: var/nats-cluster/<node>, with --hosts /var/lib/nats/jetstream)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="take the users from this credential store (bcrypt hashes) instead of the environment",
    )
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the files (default: this folder)")
    parser.add_argument("--check", action="store_true", help="compare with the files in --out instead of writing")
    args = parser.parse_args(argv)
    hosts = [host.strip() for host in args.hosts.split(",") if host.strip()] if args.hosts else None
    files = rendered(hosts, args.store_dir, args.data_dir)
    stale = []
    for name, text in files.items():
        path = args.out / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if args.data_dir is not None:
            path.chmod(0o600)  # bcrypt hashes of the store's users
        print(f"wrote {path}")
    if stale:
        print("stale (run python infra/nats/cluster/render.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
