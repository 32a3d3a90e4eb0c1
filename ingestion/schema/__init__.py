"""The flux XSD, compiled once per process, in its two versions.

``flux.xsd`` is written from the spec of CDC schema 1.1.2 with the provisional 1.1.5
additions marked ``ext:since="1.1.5"``.  Version ``1.1.2`` is that file with the marked
components removed: its verdict must be the official one on every document.  Version
``1.1.5`` (the default) accepts, in addition, ``action`` and ``identifiantNational``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from lxml import etree

NS = "urn:cdc:cpf:pc5:schema:1.0.0"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
VERSIONS = ("1.1.2", "1.1.5")
_EXT_SINCE = "{urn:passport:schema-extensions}since"


def xsd_source(version: str) -> etree._ElementTree:
    """The schema document for ``version`` (a fresh tree: callers may keep it)."""
    if version not in VERSIONS:
        raise ValueError(f"unknown flux schema version {version!r}")
    data = resources.files(__name__).joinpath("flux.xsd").read_bytes()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    tree = etree.ElementTree(etree.fromstring(data, parser))
    if version == "1.1.2":
        for node in [n for n in tree.iter() if n.get(_EXT_SINCE) == "1.1.5"]:
            node.getparent().remove(node)
    root = tree.getroot()
    root.set("version", version)
    return tree


@cache
def compiled(version: str = "1.1.5") -> etree.XMLSchema:
    """The compiled XMLSchema for ``version``, built once per process."""
    return etree.XMLSchema(xsd_source(version))
