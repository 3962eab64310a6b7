"""``python -m katoutcomes``: the same command-line interface as ``katoutcomes``."""

from katoutcomes.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
