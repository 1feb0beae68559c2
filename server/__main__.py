"""``python -m alloop``: the same command line as ``alloop``."""

from alloop.cli import app

if __name__ == "__main__":
    app(prog_name="alloop")
