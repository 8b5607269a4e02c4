"""The section pages' exporter (``report/exporter.py``) skips nbconvert's BeautifulSoup pass and
adds its attributes by pattern: every page must parse to exactly the document nbconvert's own
HTMLExporter makes of the same notebook."""

from __future__ import annotations

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor

from gpucompare.core import paths
from gpucompare.report import execute, render
from gpucompare.report.exporter import NO_ALT_TEXT, exporter_class


def _nbconverts_own(code: bool) -> HTMLExporter:
    """The exporter as render.py configured it before, with nbconvert's class."""
    exporter = HTMLExporter(
        extra_template_basedirs=[render._templates_dir()],
        template_name="gpucompare",
        exclude_input=not code,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    if not code:
        exporter.register_preprocessor(
            TagRemovePreprocessor(remove_cell_tags=render.HIDDEN_CELL_TAGS), enabled=True
        )
    return exporter


def _resources(section, sections, code: bool) -> dict:
    infos = render._section_infos(sections)
    info = next(i for i in infos if i["stem"] == section.stem)
    return {
        "metadata": {"name": section.title},
        "gc_nav": render._nav_items(infos, info["html"], ""),
        "gc_css": "",
        "gc_print_css": "",
        "gc_dark_css": "",
        "gc_section": info,
        "gc_code": code,
        "gc_root": "",
        "gc_title": "T",
        "gc_version": "v",
        "gc_built_at": "",
    }


SECTIONS = execute.discover()


@pytest.mark.parametrize("code", [False, True], ids=["page", "code page"])
@pytest.mark.parametrize("section", SECTIONS, ids=[s.stem for s in SECTIONS])
def test_a_page_parses_to_what_nbconverts_exporter_makes(section, code):
    # The committed notebooks carry every kind of output the report shows (tables, figures,
    # markdown, lists); nbconvert's exporter ends with BeautifulSoup's serialisation, so ours,
    # serialised the same way, must be the same document byte for byte.
    nb = nbformat.read(paths.notebooks_dir() / section.path.name, as_version=4)
    ours, _ = render._exporter(code).from_notebook_node(
        nbformat.from_dict(nb), resources=_resources(section, SECTIONS, code)
    )
    theirs, _ = _nbconverts_own(code).from_notebook_node(
        nbformat.from_dict(nb), resources=_resources(section, SECTIONS, code)
    )
    assert str(BeautifulSoup(ours, features="html.parser")) == theirs
    assert 'tabindex="0"' in ours


def test_focusable_areas_and_missing_alt_text_are_added_by_pattern():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "x = 1",
            outputs=[
                nbformat.v4.new_output(
                    "display_data",
                    data={
                        "text/html": '<img src="a.png"><img alt="kept" src="b.png">'
                        '<p class="jp-OutputArea-output-not">text</p>'
                    },
                )
            ],
        )
    ]
    html, _ = exporter_class()(
        template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True
    ).from_notebook_node(nb)
    assert f'<img src="a.png" alt="{NO_ALT_TEXT}">' in html
    assert '<img alt="kept" src="b.png">' in html
    assert html.count('class="jp-Cell-inputWrapper" tabindex="0"') == 1
    assert 'data-mime-type="text/html" tabindex="0">' in html
    assert '<p class="jp-OutputArea-output-not">' in html  # a class that only begins the same
