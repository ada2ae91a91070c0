"""Write the FashionMNIST bundle's by-class leaderboard into the README's table, between its markers.

    python benchmarks/readme_table.py RESULTS/leaderboard_by_class.md

`fmnist_bundle.sh` runs it after each export, so the README shows the bundle it ships;
tests/test_bundles.py checks that they agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- fmnist-one-class bundle: rows of leaderboard_by_class.md -->\n", "<!-- end of bundle -->"
PREFIX = "| fashion-mnist | one-class | "  # the columns the README's table leaves out


def main(board: Path) -> None:
    if not board.is_file():
        sys.exit(f"{board}: no such file (run `bench leaderboard` first)")
    rows = [
        "| " + line.removeprefix(PREFIX) for line in board.read_text().splitlines() if line.startswith(PREFIX)
    ]
    if not rows:
        sys.exit(f"{board}: no fashion-mnist one-class rows")
    text = README.read_text()
    body = text.index("\n", text.index("|---", text.index(START))) + 1  # below the header and its rule
    README.write_text(text[:body] + "\n".join(rows) + "\n" + text[text.index(END, body) :])
    print(f"README: {len(rows)} rows from {board}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/readme_table.py RESULTS/leaderboard_by_class.md")
    main(Path(sys.argv[1]))
