"""The section pages' exporter: nbconvert's HTML exporter without its last step, a pass of the
whole page through BeautifulSoup's pure-Python parser that adds a few attributes (0.2-0.4 s of a
1-2 MB code page, more than rendering it; issue 21). The same attributes are added by pattern, and
``tests/test_exporter.py`` checks that every page parses to the document nbconvert's own exporter
makes.
"""

from __future__ import annotations

import functools
import re
from html import escape

#: What nbconvert's HTMLExporter adds to a page after rendering it (for keyboard users: input and
#: output areas focusable; an image without alt text gets one), added here by pattern.
_FOCUSABLE = re.compile(
    r'(<div\b[^>]*\bclass="(?:[^"]*\s)?(?:jp-Cell-inputWrapper|jp-OutputArea-output)(?:\s[^"]*)?"'
    r"[^>]*?)(\s*/?>)"
)
_IMG_WITHOUT_ALT = re.compile(r"(<img\b(?![^>]*\salt=)[^>]*?)(\s*/?>)")
NO_ALT_TEXT = "No description has been provided for this image"


@functools.cache
def exporter_class():
    """nbconvert's HTML exporter without its last step, a pass of the whole page through
    BeautifulSoup's pure-Python parser to add tabindex and alt attributes: 0.2-0.4 s of a
    1-2 MB code page, more than rendering it. The same attributes are added by pattern
    (:data:`_FOCUSABLE`); tests/test_exporter.py checks that the page parses to the one nbconvert's
    exporter makes."""
    from ipython_pygments_lexers import IPython3Lexer
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    class _Highlight(Highlight2HTML):
        """nbconvert's highlighting, with the IPython 3 lexer taken from ipython_pygments_lexers:
        nbconvert imports it as ``IPython.lib.lexers``, which loads all of IPython (0.10-0.13 s
        of CPU in the build's process, which needs nothing else of it) only to re-export the same
        class from that package. The pages are byte for byte the same (compared for the ten
        sections). Other languages, and a cell's magics language, go to nbconvert."""

        def __call__(self, source, language=None, metadata=None):
            language = language or self.pygments_lexer
            if language != "ipython3" or (metadata and "magics_language" in metadata):
                return super().__call__(source, language, metadata)
            # As nbconvert's Highlight2HTML.__call__ and _pygments_highlight (nbconvert 7).
            formatter = HtmlFormatter(
                cssclass=escape(f" highlight hl-{language}"), **self.extra_formatter_options
            )
            return highlight(source if len(source) > 0 else " ", IPython3Lexer(), formatter)

    class _Exporter(HTMLExporter):
        def from_notebook_node(self, nb, resources=None, **kw):
            # HTMLExporter.from_notebook_node (nbconvert 7) up to its BeautifulSoup pass.
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            highlight = self.filters.get(
                "highlight_code", _Highlight(pygments_lexer=lexer, parent=self)
            )
            resources = self._init_resources(resources)
            data_types = WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources
            )
            self.register_filter("highlight_code", highlight)
            self.register_filter("filter_data_type", data_types)
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            html = _FOCUSABLE.sub(r'\1 tabindex="0"\2', html)
            html = _IMG_WITHOUT_ALT.sub(rf'\1 alt="{NO_ALT_TEXT}"\2', html)
            return html, resources

    return _Exporter
