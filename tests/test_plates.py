"""Plate alphabets, kind rules, text <-> labels, validation messages."""
import numpy as np
import pytest

from lpr_lib import plates as P
from lpr_lib.plates import PlateError

EXAMPLES = {  # one real-looking plate per kind
    "blue": "苏E1500Q", "yellow": "鲁B6K872", "yellow_double": "冀A12345",
    "green_small": "粤BD12345", "green_large": "沪A12345D", "police": "京A1234警",
    "hk_macao": "粤Z1234港", "learner": "川A0123学", "trailer": "浙B9876挂",
    "embassy": "使014578", "consulate": "沪A0123领",
}


def test_alphabet_shape():
    assert len(P.PROVINCES) == 31 and len(set(P.PROVINCES)) == 31
    assert "I" not in P.LETTERS and "O" not in P.LETTERS and len(P.LETTERS) == 24
    assert P.NUM_CLASSES == len(P.CHARS) == len(set(P.CHARS)) == 31 + 10 + 24 + 9
    assert P.CHARS[0] == "皖" and P.CHARS[31] == "0"  # the order the seed and CCPD use


@pytest.mark.parametrize("kind,text", sorted(EXAMPLES.items()))
def test_round_trip_every_kind(kind, text):
    assert P.validate(text, kind) == text
    labels = P.text_to_labels(text)
    assert labels.dtype == np.int32 and labels.shape == (P.MAX_LEN,)
    assert (labels[len(text):] == P.ABSENT).all() and (labels[: len(text)] >= 0).all()
    assert P.labels_to_text(labels, check=True) == text
    assert [P.CHARS[i] for i in labels[: len(text)]] == list(text)


@pytest.mark.parametrize("kind", sorted(P.KINDS))
def test_sampled_texts_follow_their_kind(kind):
    rng = np.random.default_rng(0)
    for _ in range(200):
        text = P.sample_text(kind, rng)
        assert P.is_valid(text, kind), text
        assert len(text) == P.KINDS[kind].length
        assert P.labels_to_text(P.text_to_labels(text)) == text
    # the colour-free kinds are recognised from the text alone
    expect = {"yellow": "blue", "yellow_double": "blue"}.get(kind, kind)
    assert P.infer_kind(P.sample_text(kind, rng)) == expect


def test_province_weights_are_followed():
    rng = np.random.default_rng(1)
    p = np.zeros(len(P.PROVINCES))
    p[P.PROVINCES.index("皖")] = 1.0
    assert {P.sample_text("blue", rng, p)[0] for _ in range(50)} == {"皖"}


@pytest.mark.parametrize("text,fragment", [
    ("苏E15@0Q", "unknown character"),
    ("苏E1500O", "never use the letters I and O"),
    ("苏I1500Q", "never use the letters I and O"),
    ("苏E150", "7 or 8 characters, not 5"),
    ("苏E15000QQ", "7 or 8 characters, not 9"),
    ("A苏15000", "first character must be a province"),
    ("苏苏15000", "second character must be a letter"),
    ("苏E15苏00", "cannot stand after the second character"),
    ("苏E123456", "needs D or F"),  # 8 characters but no new-energy letter
    ("苏ED1234A", "D/F, a letter or digit, then 4 digits"),
    ("苏EA1234D", "5 digits then D/F"),
    ("沪A1234港", "Hong Kong/Macao plates are 粤Z"),
    ("使01457A", "使 followed by 6 digits"),
    ("京A12警34", "cannot stand after the second character"),
])
def test_validation_errors_name_the_problem(text, fragment):
    with pytest.raises(PlateError, match=fragment.replace("/", ".")):
        P.validate(text)
    assert not P.is_valid(text)


def test_kind_rules_reject_other_kinds():
    with pytest.raises(PlateError, match="not a police plate"):
        P.validate("苏E1500Q", "police")
    with pytest.raises(PlateError, match="not a green_large plate"):
        P.validate("粤BD12345", "green_large")
    with pytest.raises(PlateError, match="unknown plate kind 'purple'"):
        P.validate("苏E1500Q", "purple")
    with pytest.raises(PlateError, match="unknown plate kind"):
        P.sample_text("purple", np.random.default_rng(0))


def test_labels_errors():
    with pytest.raises(PlateError, match="present after an absent"):
        P.labels_to_text([1, 2, -1, 3])
    with pytest.raises(PlateError, match="outside 0"):
        P.labels_to_text([1, 2, 999])
    with pytest.raises(PlateError, match="at most 8"):
        P.labels_to_text([1] * 9)
    # noisy labels load without the plate rules, but still within the alphabet
    assert P.labels_to_text(P.text_to_labels("苏E150", check=False)) == "苏E150"
    with pytest.raises(PlateError, match="unknown character"):
        P.text_to_labels("苏E15?", check=False)


def test_rows_and_filenames():
    assert P.rows("浙B9876挂", "trailer") == ("浙B", "9876挂")
    assert P.rows("苏E1500Q", "blue") == ("苏E1500Q",)
    assert P.text_from_filename("dir/苏E1500Q_3.jpg") == "苏E1500Q"


def test_kind_rule_words():
    assert "警" in P.kind_rule("police") and "D/F" in P.kind_rule("green_large")
    with pytest.raises(PlateError, match="unknown plate kind"):
        P.kind_rule("purple")
