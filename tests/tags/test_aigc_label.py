"""The GB 45438 label value and the XMP packet that carries it."""

from __future__ import annotations

import json
import re

import pytest

from marking.errors import InputError, UsageError
from marking.tags.aigc_label import (
    AigcLabel,
    LabelFormatError,
    is_provider_code,
    validate_provider_code,
)
from marking.tags.xmp import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
    XPACKET_ID,
    build_xmp,
    read_xmp_fields,
    source_type_uri,
    update_xmp,
)
from tests.conftest import XMP_PACKET

PROVIDER = "001191110102MAD55U9H0F10002"
KEYS = [
    "Label",
    "ContentProducer",
    "ProduceID",
    "ReservedCode1",
    "ContentPropagator",
    "PropagateID",
    "ReservedCode2",
]


@pytest.fixture
def label() -> AigcLabel:
    return AigcLabel.create(PROVIDER, produce_id="id-0001", reserved1="sha256:ab12")


# --- the label --------------------------------------------------------------------------------


def test_create_defaults_copy_production_fields() -> None:
    made = AigcLabel.create("acme")
    assert made.label == "1"
    assert re.fullmatch(r"[0-9a-f]{32}", made.produce_id)
    assert made.content_propagator == "acme"
    assert made.propagate_id == made.produce_id
    assert made.reserved_code1 == made.reserved_code2 == ""
    assert AigcLabel.create("acme").produce_id != made.produce_id


def test_create_keeps_given_fields() -> None:
    made = AigcLabel.create("p", "a", propagator="q", propagate_id="b", label="3", reserved2="r")
    assert made.to_dict() == dict(zip(KEYS, ["3", "p", "a", "", "q", "b", "r"], strict=True))


def test_to_json_compact_in_standard_order(label: AigcLabel) -> None:
    bare = label.to_json()
    assert " " not in bare
    assert list(json.loads(bare)) == KEYS
    assert bare.startswith('{"Label":"1","ContentProducer":"0011')
    wrapped = label.to_json(wrapped=True)
    assert wrapped == '{"AIGC":' + bare + "}"


@pytest.mark.parametrize("wrapped", [False, True])
def test_from_json_round_trip(label: AigcLabel, wrapped: bool) -> None:
    assert AigcLabel.from_json(label.to_json(wrapped)) == label
    assert AigcLabel.from_json(label.to_json(wrapped).encode()) == label


def test_from_json_is_lenient() -> None:
    text = '\n { "AIGC" : { "Label" : "2", "ContentProducer": "x", "Extra": "ignored" } } \n'
    parsed = AigcLabel.from_json(text)
    assert parsed.label == "2"
    assert parsed.content_producer == "x"
    assert parsed.produce_id == parsed.reserved_code2 == ""
    assert AigcLabel.from_json('{"Label": 1}').label == "1"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('"AIGC"', "must be a JSON object"),
        ('{"Label": {"a": 1}}', "Label must be a string"),
    ],
)
def test_from_json_rejects_non_objects(text: str, problem: str) -> None:
    with pytest.raises(LabelFormatError, match=problem) as caught:
        AigcLabel.from_json(text)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, InputError)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"label": "4"}, 'Label must be "1", "2" or "3"'),
        ({"content_producer": ""}, "ContentProducer must not be empty"),
        ({"produce_id": ""}, "ProduceID must not be empty"),
        ({"produce_id": "has space"}, "ProduceID contains ' '"),
        ({"reserved_code1": 'quo"te'}, "ReservedCode1 contains '\"'"),
        ({"propagate_id": "back\\slash"}, r"PropagateID contains '\\\\'"),
        ({"content_propagator": "人工智能"}, "ContentPropagator contains '人'"),
        ({"reserved_code2": "tab\there"}, "ReservedCode2 contains '\\\\t'"),
    ],
)
def test_validate_names_field_and_character(
    label: AigcLabel, changes: dict[str, str], message: str
) -> None:
    bad = AigcLabel(**(label.__dict__ | changes))
    with pytest.raises(UsageError, match=message):
        bad.validate()


def test_create_validates() -> None:
    with pytest.raises(UsageError, match="ContentProducer contains ' '"):
        AigcLabel.create("my company")


def test_provider_code_accepted() -> None:
    assert is_provider_code(PROVIDER)
    validate_provider_code(PROVIDER)


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("acme", "must be 27 characters"),
        ("011191110102MAD55U9H0F10002", '"00" \\+ "11"'),
        ("001191110102MAD55U9H0F30002", "service type"),
        ("001191110102MAD55U9H0F1000a", "model code"),
        ("001191110102MAD55U9H0E10002", "wrong check character \\(expected F\\)"),
        ("001191110102MAD55U9H0O10002", "cannot have"),
    ],
)
def test_provider_code_rejected(code: str, problem: str) -> None:
    assert not is_provider_code(code)
    with pytest.raises(UsageError, match=problem):
        validate_provider_code(code)


def test_any_producer_string_is_a_valid_label() -> None:
    AigcLabel.create("not-a-provider-code").validate()


# --- the XMP packet ---------------------------------------------------------------------------


def test_fresh_packet(label: AigcLabel) -> None:
    packet = build_xmp(label)
    assert packet.startswith(f'<?xpacket begin="\ufeff" id="{XPACKET_ID}"?>'.encode())
    assert packet.endswith(b'<?xpacket end="w"?>')
    assert len(packet) > 2048  # padding for in-place edits
    assert b'xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/"' in packet
    assert b'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"' in packet
    assert f"<TC260:AIGC>{label.to_json()}</TC260:AIGC>".encode() in packet
    assert read_xmp_fields(packet) == (label, TRAINED_ALGORITHMIC_MEDIA)


def test_update_keeps_other_properties(label: AigcLabel) -> None:
    update = update_xmp(XMP_PACKET, label, COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA)
    assert not update.replaced_malformed
    packet = update.packet
    assert b"<dc:creator><rdf:Seq><rdf:li>Test Creator</rdf:li></rdf:Seq></dc:creator>" in packet
    assert packet.count(b"<Iptc4xmpExt:DigitalSourceType>") == 1
    assert packet.count(b"<TC260:AIGC>") == 1
    assert read_xmp_fields(packet) == (label, COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA)


def test_update_replaces_attribute_and_duplicate_forms(label: AigcLabel) -> None:
    old = AigcLabel.create("old", "old-id")
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Test 1.0">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:T="http://www.tc260.org.cn/ns/AIGC/1.0/"'
        ' xmlns:my="http://example.com/my/" my:keep="yes"'
        f" T:AIGC='{old.to_json()}'/>"
        '<rdf:Description rdf:about="" xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/"'
        ' xmlns:I="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' I:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia">'
        f"<TC260:AIGC>{old.to_json()}</TC260:AIGC><TC260:AIGC>{old.to_json()}</TC260:AIGC>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    assert read_xmp_fields(packet)[0] == old
    updated = update_xmp(packet, label).packet
    text = updated.decode()
    assert "old-id" not in text
    assert text.count("AIGC>") == 2  # one element: its start and end tags
    assert text.count("DigitalSourceType") == 2
    assert 'my:keep="yes"' in text
    assert 'x:xmptk="Test 1.0"' in text
    assert read_xmp_fields(updated) == (label, TRAINED_ALGORITHMIC_MEDIA)


def test_update_of_bare_rdf_and_empty_description(label: AigcLabel) -> None:
    packet = (
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about=""/></rdf:RDF>'
    )
    updated = update_xmp(packet, label).packet
    assert b"<x:xmpmeta" in updated
    assert read_xmp_fields(updated) == (label, TRAINED_ALGORITHMIC_MEDIA)


def test_reader_accepts_wrapped_json_and_attribute_form(label: AigcLabel) -> None:
    wrapped = label.to_json(wrapped=True).replace('"', "&quot;")
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/"'
        f' TC260:AIGC="{wrapped}">'
        '<Iptc4xmpExt:DigitalSourceType xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' rdf:resource="http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia"/>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    found, source_type = read_xmp_fields(packet.encode())
    assert found == label
    assert source_type == "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia"


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"<not xml",
        b"\x00\x00\x00",
        b"<html><body/></html>",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>',
        XMP_PACKET[:-40],
    ],
)
def test_malformed_packet_reads_as_nothing_and_is_replaced(label: AigcLabel, packet: bytes) -> None:
    assert read_xmp_fields(packet) == (None, None)
    update = update_xmp(packet, label)
    assert update.replaced_malformed == bool(packet.strip(b"\x00"))
    assert read_xmp_fields(update.packet) == (label, TRAINED_ALGORITHMIC_MEDIA)


def test_unreadable_label_json_reads_as_none() -> None:
    packet = XMP_PACKET.replace(
        b"<dc:creator>",
        b'<TC260:AIGC xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/">[1]</TC260:AIGC>'
        b"<dc:creator>",
    )
    assert read_xmp_fields(packet) == (None, TRAINED_ALGORITHMIC_MEDIA)


def test_update_validates_label_and_source_type(label: AigcLabel) -> None:
    with pytest.raises(UsageError, match="ProduceID contains ' '"):
        update_xmp(None, AigcLabel(label="1", content_producer="a", produce_id="b c"))
    with pytest.raises(UsageError, match="must be a full URI"):
        update_xmp(None, label, "not a uri")


def test_source_type_short_names() -> None:
    assert source_type_uri("trainedAlgorithmicMedia") == TRAINED_ALGORITHMIC_MEDIA
    assert source_type_uri("https://example.com/x") == "https://example.com/x"


def test_unknown_prefixes_are_kept(label: AigcLabel) -> None:
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" xmlns:acme="http://acme.example/ns/1.0/">'
        b'<acme:Rating xml:lang="en">5 &amp; &lt;b&gt;</acme:Rating>'
        b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    updated = update_xmp(packet, label).packet
    assert b'xmlns:acme="http://acme.example/ns/1.0/"' in updated
    assert b'<acme:Rating xml:lang="en">5 &amp; &lt;b&gt;</acme:Rating>' in updated


# --- the label's binding to the watermark in its file -------------------------------------------


def test_label_names_the_bound_payload_else_the_implied_one() -> None:
    from marking.scheme.payload import payload_for_label
    from marking.tags.aigc_label import WATERMARK_BINDING_PREFIX, label_payload

    label = AigcLabel.create("AcmeAI", "job-1")
    implied = payload_for_label("AcmeAI", "job-1")
    assert label.implied_payload() == implied
    assert label.bound_to(implied) is label  # producer and ProduceID already name it
    bound = label.bound_to("0123456789abcdef")
    assert bound.reserved_code1 == WATERMARK_BINDING_PREFIX + "0123456789abcdef"
    bound.validate()  # the binding is a valid Annex E value
    assert label_payload(bound.to_dict()) == "0123456789abcdef"
    assert bound.bound_to("00000000000000aa").implied_payload() == "00000000000000aa"
    # Not a binding (wrong length, upper case): the producer and ProduceID speak.
    for text in ("aigc-wm:0123", "aigc-wm:0123456789ABCDEF", "checksum"):
        assert label_payload({**label.to_dict(), "ReservedCode1": text}) == implied
    assert label_payload({"Label": "1"}) is None
    assert label_payload(None) is None


def test_binding_never_overwrites_a_reserved_code_the_caller_set() -> None:
    label = AigcLabel.create("AcmeAI", "job-1", reserved1="checksum")
    with pytest.raises(UsageError, match="ReservedCode1 'checksum'"):
        label.bound_to("0123456789abcdef")
