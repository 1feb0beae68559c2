"""``python -m alloop.labelstudio``: the same commands as ``alloop labelstudio``."""

from alloop.labelstudio.cli import app

if __name__ == "__main__":
    app(prog_name="python -m alloop.labelstudio")
