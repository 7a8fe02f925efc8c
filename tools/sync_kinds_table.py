"""Paste the registry's kinds table into docs/yaml-reference.md (tests/test_kinds.py checks they agree).

    python tools/sync_kinds_table.py
"""

from pathlib import Path

from cnncost.render.kinds import markdown_table

BEGIN = ("<!-- generated from the registry by 'cnncost kinds --format markdown'; "
         "tests/test_kinds.py keeps it equal -->\n")
END = "<!-- end of the generated table -->"

path = Path(__file__).resolve().parent.parent / "docs" / "yaml-reference.md"
text = path.read_text()
start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
path.write_text(text[:start] + markdown_table() + text[stop:])
