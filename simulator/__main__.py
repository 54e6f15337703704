"""``python -m simulator``: the ``simulate`` command line (simulator/cli.py)."""

from simulator.cli import main

if __name__ == "__main__":
    main()
