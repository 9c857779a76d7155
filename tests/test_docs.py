"""The generated tables in docs/ are up to date with the code."""

from spikemesh import docgen


def test_generated_docs_are_current():
    stale = docgen.stale_pages(write=False)
    assert not stale, f"run `python -m spikemesh.docgen` to regenerate: {', '.join(stale)}"


def test_every_generated_block_is_known():
    import re

    for page in docgen.DOCS.glob("*.md"):
        for name in re.findall(r"<!-- BEGIN GENERATED: ([\w-]+) -->", page.read_text()):
            assert name in docgen.GENERATORS, f"{page.name}: unknown generated block {name}"
