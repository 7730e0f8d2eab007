"""``python -m streamgale.cli``: the same as the ``streamgale`` console script."""

from streamgale.cli.main import main

main(prog_name="streamgale")
