"""`make bench`: every benchmark in this folder, each printing ratios against a baseline of the same run."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    selected = [n for n in names if not sys.argv[1:] or any(arg in n for arg in sys.argv[1:])]
    for name in selected:
        print(f"\n=== {name} ===", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
