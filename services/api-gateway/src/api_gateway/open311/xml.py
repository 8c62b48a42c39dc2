"""The XML format: GeoReport v2 serves every resource as .json and .xml; some clients ask for XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - builds XML, never parses input
from typing import Any

from fastapi.responses import Response


def to_xml(root: str, item: str, content: Any) -> bytes:
    """GeoReport v2 XML: a root element holding one element per object, fields as child elements."""
    top = ET.Element(root)
    if root == item:  # a single object is its own root (service_definition)
        _fill(top, content)
    else:
        for obj in content if isinstance(content, list) else [content]:
            _fill(ET.SubElement(top, item), obj)
    body: bytes = ET.tostring(top, encoding="utf-8")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(child, list):
                holder = ET.SubElement(element, key)
                for entry in child:
                    _fill(ET.SubElement(holder, key.rstrip("s") or key), entry)
            else:
                _fill(ET.SubElement(element, key), child)
    elif value is not None:
        element.text = str(value).lower() if isinstance(value, bool) else str(value)


def xml_response(root: str, item: str) -> type[Response]:
    class Open311XML(Response):
        media_type = "text/xml"

        def render(self, content: Any) -> bytes:
            return to_xml(root, item, content)

    return Open311XML
