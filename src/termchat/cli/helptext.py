"""Help-text helper: Typer's Rich help keeps hard line breaks, so paragraphs written wrapped in
the source come out ragged. :func:`unwrap` joins each paragraph into one line (Rich then wraps it
to the terminal) and leaves indented lines (examples) as they are."""

from __future__ import annotations


def unwrap(text: str) -> str:
    """Join the lines of each blank-line-separated paragraph of ``text`` with single spaces;
    paragraphs containing an indented line are kept verbatim."""
    out = []
    for para in text.strip("\n").split("\n\n"):
        lines = para.splitlines()
        if any(line.startswith((" ", "\t")) for line in lines):
            out.append(para)
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)
