"""XMP packets carrying the GB 45438 label (``TC260:AIGC``) and IPTC's DigitalSourceType.

:func:`update_xmp` sets the two properties in an existing packet, exactly once each, and
leaves every other property as it was; :func:`read_xmp_fields` reads them back. Packets are
parsed with :mod:`xml.etree.ElementTree` and written by a small serializer here, which keeps
the prefixes the packet declared (ElementTree's own would rename them ``ns0``, ``ns1``...).
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from marking.errors import UsageError
from marking.tags.aigc_label import AigcLabel, LabelFormatError
from marking.tags.source_types import (  # noqa: F401 - re-exported vocabulary
    ALGORITHMIC_MEDIA,
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    SOURCE_TYPE_BASE,
    TRAINED_ALGORITHMIC_MEDIA,
)

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
X_NS = "adobe:ns:meta/"
XML_NS = "http://www.w3.org/XML/1998/namespace"

AIGC_PROPERTY = f"{{{TC260_NS}}}AIGC"
SOURCE_TYPE_PROPERTY = f"{{{IPTC_EXT_NS}}}DigitalSourceType"


#: The xpacket wrapper's fixed id, and the padding left for in-place edits by other tools.
XPACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"
DEFAULT_PADDING = 2048

#: Prefixes used when a packet does not declare its own for a namespace.
_KNOWN_PREFIXES = {
    X_NS: "x",
    RDF_NS: "rdf",
    XML_NS: "xml",
    TC260_NS: "TC260",
    IPTC_EXT_NS: "Iptc4xmpExt",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/rights/": "xmpRights",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
}
_DESCRIPTION = f"{{{RDF_NS}}}Description"
_RDF = f"{{{RDF_NS}}}RDF"
_ABOUT = f"{{{RDF_NS}}}about"
_RESOURCE = f"{{{RDF_NS}}}resource"
_XMPMETA = (f"{{{X_NS}}}xmpmeta", f"{{{X_NS}}}xapmeta")
_FORBIDDEN_MARKUP = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_BLANK = b"\x00 \t\r\n"
#: Deepest element nesting accepted. Real packets nest a dozen levels; 200,000 nested elements
#: would overflow the writer's recursion, so such a packet counts as malformed.
MAX_XMP_DEPTH = 256
_URI = re.compile(r"[a-z][a-z0-9+.-]*:[!-~]+", re.IGNORECASE)


class _MalformedXmp(ValueError):
    """A packet that cannot be parsed as XMP (internal)."""


@dataclass(frozen=True)
class XmpUpdate:
    """An updated packet; ``replaced_malformed`` says the old one was unparseable and was
    replaced by a fresh packet (its other properties are lost)."""

    packet: bytes
    replaced_malformed: bool = False


def source_type_uri(value: str) -> str:
    """A digital source type as a full URI: a bare IPTC code (``trainedAlgorithmicMedia``)
    is expanded; anything else must already be an absolute URI."""
    if re.fullmatch(r"[A-Za-z]+", value):
        return SOURCE_TYPE_BASE + value
    if not _URI.fullmatch(value):
        raise UsageError(f"digital source type must be a full URI, got {value!r}")
    return value


def _parse(packet: bytes | str) -> tuple[ET.Element, ET.Element]:
    """The root and the ``rdf:RDF`` element of a packet; :class:`_MalformedXmp` if the packet
    is not XML or has no ``rdf:RDF``."""
    data = packet.encode("utf-8") if isinstance(packet, str) else bytes(packet)
    # Some writers pad with NULs; a DOCTYPE has no place in XMP (and could expand entities).
    data = data.strip(_BLANK)
    if not data or _FORBIDDEN_MARKUP.search(data):
        raise _MalformedXmp("empty packet or DOCTYPE in packet")
    try:
        root = _parse_bounded(data)
    except ET.ParseError as error:
        raise _MalformedXmp(str(error)) from None
    if root.tag == _RDF:
        return root, root
    if root.tag in _XMPMETA and (rdf := root.find(_RDF)) is not None:
        return root, rdf
    raise _MalformedXmp(f"no rdf:RDF element (root is {root.tag})")


def _parse_bounded(data: bytes) -> ET.Element:
    """The packet's root element; :class:`_MalformedXmp` past :data:`MAX_XMP_DEPTH` levels."""
    events = ET.iterparse(io.BytesIO(data), events=("start", "end"))
    depth = 0
    for event, _ in events:
        depth += 1 if event == "start" else -1
        if depth > MAX_XMP_DEPTH:
            raise _MalformedXmp(f"elements nested over {MAX_XMP_DEPTH} deep")
    return events.root  # type: ignore[attr-defined]


def _declared_prefixes(packet: bytes | str) -> dict[str, str]:
    """Namespace URI -> prefix as the packet declares them (first declaration wins)."""
    data = packet.encode("utf-8") if isinstance(packet, str) else bytes(packet)
    prefixes: dict[str, str] = {}
    parser = ET.XMLPullParser(events=("start-ns",))
    try:
        parser.feed(data.strip(_BLANK))
        for _, (prefix, uri) in parser.read_events():
            if prefix and uri not in prefixes:
                prefixes[uri] = prefix
    except ET.ParseError:
        pass
    return prefixes


def _value(element: ET.Element) -> str:
    """A simple property's value: its text, or its ``rdf:resource``."""
    if element.get(_RESOURCE) is not None:
        return element.get(_RESOURCE, "").strip()
    return (element.text or "").strip()


def read_xmp_fields(packet: bytes | str | None) -> tuple[AigcLabel | None, str | None]:
    """The label and digital source type a packet holds; ``None`` for either that is
    missing or unreadable (a malformed packet gives ``(None, None)``, never an error)."""
    if not packet:
        return None, None
    try:
        _, rdf = _parse(packet)
    except _MalformedXmp:
        return None, None
    aigc_text: str | None = None
    source_type: str | None = None
    for description in rdf:
        if description.tag != _DESCRIPTION:
            continue
        if aigc_text is None:
            aigc_text = description.get(AIGC_PROPERTY)
            if aigc_text is None and (child := description.find(AIGC_PROPERTY)) is not None:
                aigc_text = child.text or ""
        if source_type is None:
            source_type = description.get(SOURCE_TYPE_PROPERTY)
            if (
                source_type is None
                and (child := description.find(SOURCE_TYPE_PROPERTY)) is not None
            ):
                source_type = _value(child)
    label: AigcLabel | None = None
    if aigc_text is not None:
        try:
            label = AigcLabel.from_json(aigc_text.strip())
        except LabelFormatError:
            label = None
    return label, (source_type.strip() or None) if source_type is not None else None


def _set_properties(rdf: ET.Element, label: AigcLabel, source_type: str) -> None:
    """Remove every copy of the two properties (attribute or element form) and add one of
    each, as elements, to the first top-level ``rdf:Description``."""
    descriptions = [child for child in rdf if child.tag == _DESCRIPTION]
    for description in descriptions:
        for name in (AIGC_PROPERTY, SOURCE_TYPE_PROPERTY):
            description.attrib.pop(name, None)
            for child in description.findall(name):
                description.remove(child)
    if descriptions:
        target = descriptions[0]
    else:
        target = ET.SubElement(rdf, _DESCRIPTION, {_ABOUT: ""})
        target.tail = "\n"
    # Follow the packet's layout: the whitespace before the first property and after the last.
    text = target.text or ""
    separator = text if text and not text.strip() else "\n"
    last_tail = target[-1].tail if len(target) else None
    closing = last_tail if last_tail and not last_tail.strip() else "\n"
    for name, value in ((AIGC_PROPERTY, label.to_json()), (SOURCE_TYPE_PROPERTY, source_type)):
        if len(target):
            target[-1].tail = separator
        else:
            target.text = separator
        ET.SubElement(target, name).text = value
    target[-1].tail = closing


def _serialize(root: ET.Element, prefixes: dict[str, str]) -> str:
    """XML text for ``root``, every namespace declared on the root element."""
    uris: list[str] = []

    def collect(name: str) -> None:
        if name.startswith("{"):
            uri = name[1:].split("}", 1)[0]
            if uri not in uris:
                uris.append(uri)

    for element in root.iter():
        collect(element.tag)
        for name in element.attrib:
            collect(name)

    assigned: dict[str, str] = {XML_NS: "xml"}
    used = {"xml"}
    for index, uri in enumerate(uris):
        if uri == XML_NS:
            continue
        prefix = prefixes.get(uri) or _KNOWN_PREFIXES.get(uri) or f"ns{index}"
        while prefix in used:
            prefix += "_"
        assigned[uri] = prefix
        used.add(prefix)

    def qname(name: str) -> str:
        if not name.startswith("{"):
            return name
        uri, local = name[1:].split("}", 1)
        return f"{assigned[uri]}:{local}"

    parts: list[str] = []

    def write(element: ET.Element, top: bool) -> None:
        attributes = "".join(
            f" {qname(name)}={quoteattr(value)}" for name, value in element.attrib.items()
        )
        if top:
            attributes = (
                "".join(f" xmlns:{assigned[uri]}={quoteattr(uri)}" for uri in uris if uri != XML_NS)
                + attributes
            )
        tag = qname(element.tag)
        if element.text is None and not len(element):
            parts.append(f"<{tag}{attributes}/>")
        else:
            parts.append(f"<{tag}{attributes}>{escape(element.text or '')}")
            for child in element:
                write(child, False)
            parts.append(f"</{tag}>")
        if element.tail and not top:
            parts.append(escape(element.tail))

    write(root, True)
    return "".join(parts)


def _wrap(
    rdf: ET.Element, xmpmeta: ET.Element | None, prefixes: dict[str, str], padding: int
) -> bytes:
    """The full packet: xpacket wrapper, x:xmpmeta, padding."""
    if xmpmeta is None:
        xmpmeta = ET.Element(f"{{{X_NS}}}xmpmeta")
        xmpmeta.text = "\n"
        rdf.tail = "\n"
        xmpmeta.append(rdf)
    body = _serialize(xmpmeta, prefixes)
    lines, remainder = divmod(max(padding, 0), 100)
    filler = (" " * 99 + "\n") * lines + " " * remainder
    return (
        f'<?xpacket begin="\ufeff" id="{XPACKET_ID}"?>\n{body}\n{filler}<?xpacket end="w"?>'
    ).encode()


def build_xmp(
    label: AigcLabel,
    source_type: str = TRAINED_ALGORITHMIC_MEDIA,
    *,
    padding: int = DEFAULT_PADDING,
) -> bytes:
    """A fresh packet holding only the label and the digital source type."""
    return update_xmp(None, label, source_type, padding=padding).packet


def update_xmp(
    packet: bytes | str | None,
    label: AigcLabel,
    source_type: str = TRAINED_ALGORITHMIC_MEDIA,
    *,
    padding: int = DEFAULT_PADDING,
) -> XmpUpdate:
    """``packet`` with exactly one ``TC260:AIGC`` (the bare JSON of ``label``) and one
    ``Iptc4xmpExt:DigitalSourceType``; everything else in it is kept.

    ``None`` or an empty packet gives a fresh one; an unparseable packet is replaced by a
    fresh one and the result says so. The label is validated first.
    """
    label.validate()
    source_type = source_type_uri(source_type)
    replaced = False
    prefixes: dict[str, str] = {}
    xmpmeta: ET.Element | None = None
    rdf: ET.Element | None = None
    data = packet.encode() if isinstance(packet, str) else bytes(packet or b"")
    if data.strip(_BLANK):
        try:
            root, rdf = _parse(data)
        except _MalformedXmp:
            replaced = True
        else:
            prefixes = _declared_prefixes(data)
            xmpmeta = root if root is not rdf else None
    if rdf is None:
        rdf = ET.Element(_RDF)
        rdf.text = "\n"
    _set_properties(rdf, label, source_type)
    return XmpUpdate(_wrap(rdf, xmpmeta, prefixes, padding), replaced)
