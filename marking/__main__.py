"""``python -m marking``: the ``aigc-mark`` command line."""

from marking.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
