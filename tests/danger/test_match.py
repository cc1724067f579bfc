"""The danger matcher on the shipped danger.yml: callers' words as typed and as the line garbles
them are caught; ordinary questions that share words with danger are not."""
from __future__ import annotations

import pytest

from bot.content.load import load_knowledge_base
from bot.danger.match import DangerMatcher
from bot.danger.model import DangerKind, DangerNet
from bot.phrases import syllable
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def matcher() -> DangerMatcher:
    kb, problems = load_knowledge_base(ROOT / "data/faq")
    assert kb is not None and kb.danger is not None, [str(p) for p in problems]
    return DangerMatcher(kb.danger)


@pytest.mark.parametrize("text, kind", [
    ("nhà tôi đang cháy", "fire"),
    ("nha toi dang chay cuu voi", "fire"),  # typed without diacritics
    ("nhà bên cạnh bốc cháy rồi", "fire"),
    ("trời ơi nhà tôi cháy rồi", "fire"),  # one extra word inside "nhà cháy"
    ("bố tôi khó thở lắm", "medical"),
    ("bo toi kho tho lam", "medical"),
    ("mẹ tôi ngất xỉu rồi", "medical"),
    ("con tôi nên cơn co giật", "medical"),  # l/n merged by the line: "lên" heard "nên"
    ("chồng tôi đang đánh tôi", "violence"),
    ("có kẻ cầm dao ngoài cửa", "violence"),
    ("em không muốn sống nữa", "suicide"),
    ("em khong muon song nua", "suicide"),
    ("tôi chán xống lắm rồi", "suicide"),  # s/x merged
    ("con tôi uống nhầm thuốc chuột", "poisoning"),
    ("có đứa trẻ bị bỏ rơi trước cửa nhà tôi", "child"),
    ("tôi không muốn xống nữa", "suicide"),
    ("không muốn sộng nữa", "suicide"),  # one wrong tone in a three-word phrase
    ("gọi xe cho tôi với, nhanh lên", "medical"),  # help asked for, the danger not named
    ("chán lắm rồi, chắc tôi không qua được đêm nay đâu", "suicide"),
    ("giời ơi lửa bén sang mái rạ rồi, gọi xe cho tôi với", "fire"),  # fire is declared first
])
def test_danger_is_caught(matcher: DangerMatcher, text: str, kind: str):
    found = matcher.find(text)
    assert found is not None, text
    assert found.kind.id == kind, (text, found)


@pytest.mark.parametrize("text", [
    "tôi chạy xe ôm thì được hỗ trợ bao nhiêu",
    "toi chay xe om duoc ho tro bao nhieu",  # "chay" alone is not "cháy" without diacritics
    "bị tai nạn lao động có được hỗ trợ không",
    "tôi nằm viện cấp cứu mười ngày có được hỗ trợ tiền không",
    "anh chị cứ từ từ nói",  # "từ từ" is not "tự tử": two wrong tones are not allowed
    "mệt muốn chết mà chưa nhận được tiền",
    "tháng này cháy túi rồi, bao giờ có tiền hỗ trợ",
    "ngồi nhà lo cháy ruột cháy gan, bao giờ có tiền",
    "nghe cán bộ bảo không đủ điều kiện mà tôi muốn ngất",
    "cho tôi hỏi hồ sơ lao động tự do nộp ở đâu",
    "công ty bị đánh thuế nặng quá",
    "chờ xíu nhé",  # "xíu" is not "xỉu"
    "một nửa tháng lương",  # "nửa" is "lửa" to a northern ear, and "lửa" alone is no phrase
])
def test_ordinary_questions_are_not_danger(matcher: DangerMatcher, text: str):
    assert matcher.find(text) is None


@pytest.mark.parametrize("text", [
    "bé nhà tôi ho ba hôm nay nhưng không khó thở, có cần đi khám không",
    "mẹ tôi đo SpO2 chín sáu, chưa thấy khó thở gì cả",
    "e bi mat vi giac, ko kho tho, ko sot",  # typed without diacritics: "ko" still negates
    "bố tôi không hề khó thở chỉ hơi mệt",
    "khong toi khong can cap cuu",  # "không cần" gạt đi
    "ngộ độc gì đâu tôi hỏi hỗ trợ mà",  # denied after the phrase
    "không cần cấp cứu đâu tôi hỏi tiền",  # not "cứu [đâu] tôi" with a word between
])
def test_a_negation_just_before_or_a_denial_just_after_a_phrase_cancels_it(matcher: DangerMatcher, text: str):
    assert matcher.find(text) is None


@pytest.mark.parametrize("text", [
    "mẹ tôi khó thở lắm, không nói được nữa",  # the negation follows the phrase
    "không biết làm sao, chồng tôi khó thở quá",  # a word between them
    "con tôi gọi không tỉnh",  # the negation inside an editors' phrase
])
def test_danger_near_a_negation_still_counts(matcher: DangerMatcher, text: str):
    found = matcher.find(text)
    assert found is not None and found.kind.id == "medical"


def test_two_wrong_tones_or_a_wrong_tone_and_a_gap_do_not_match():
    kind = DangerKind("k", "một một năm", 1, "gọi một một năm", "gọi một một năm", ("không muốn sống",))
    m = DangerMatcher(DangerNet((kind,)))
    assert m.find("không muốn sộng") is not None
    assert m.find("không mườn sộng") is None
    assert m.find("không muốn lắm sống") is not None
    assert m.find("không muốn lắm sộng") is None


def test_the_first_kind_declared_wins():
    a = DangerKind("a", "một", 1, "một", "một", ("cầm dao",))
    b = DangerKind("b", "hai", 1, "hai", "hai", ("dao",))
    assert DangerMatcher(DangerNet((a, b))).find("nó cầm dao").kind.id == "a"
    assert DangerMatcher(DangerNet((b, a))).find("nó cầm dao").kind.id == "b"


def test_weak_phrase_yields_to_a_question_about_support():
    kind = DangerKind("k", "một", 1, "một", "một", ("khó thở",), weak_phrases=("cấp cứu",))
    m = DangerMatcher(DangerNet((kind,), asking=("được hỗ trợ",)))
    assert m.find("cấp cứu") is not None
    assert m.find("đi cấp cứu có được hỗ trợ không") is None
    assert m.find("khó thở có được hỗ trợ không") is not None  # a strong phrase always counts


@pytest.mark.parametrize("text, asking", [
    ("tôi gọi hỏi tiền hỗ trợ hộ kinh doanh, à mà khoan, nhà bên cạnh đang cháy to lắm", False),
    ("tien ho tro bao gio co, a ma thoi, chong em vua bi may cat dut tay mau phun ra", False),  # no diacritics
    ("tôi hỏi tiền hỗ trợ, nhưng mà năm ngoái có thằng cầm dao vào nhà tôi", True),  # asking words after the change
    ("có thằng cầm dao vào nhà tôi hồi năm ngoái, nhưng mà giờ có được hỗ trợ không", True),  # the change after the danger
    ("tôi hỏi tiền hỗ trợ, nhà bên cạnh đang cháy", True),  # no change of topic
])
def test_a_change_of_topic_ends_a_question_about_support(matcher: DangerMatcher, text: str, asking: bool):
    found = matcher.find(text)
    assert found is not None and found.asking is asking


def test_syllable_sounds():
    assert syllable("trời").sound == syllable("chời").sound
    assert syllable("lửa").sound == syllable("nửa").sound
    assert syllable("hoả").tone == syllable("hỏa").tone == "hỏi"
    assert syllable("hoả").sound == syllable("hỏa").sound
    assert not syllable("cho").marked and syllable("chó").marked and syllable("đi").marked


def test_a_strong_phrase_in_a_question_about_support_is_marked_asking(matcher: DangerMatcher):
    # Someone telling of a danger past while asking about money: asked, not put through at once.
    told = matcher.find("năm ngoái tôi bị ngộ độc rượu phải đi viện, bảo hiểm có trả không")
    assert told is not None and told.kind.id == "poisoning" and told.asking
    now = matcher.find("con tôi bị ngộ độc rượu, nôn ra máu")
    assert now is not None and now.kind.id == "poisoning" and not now.asking
    news = matcher.find("trên ti vi báo có vụ ngộ độc rượu, nhà tôi không sao, tôi hỏi lao động tự do")
    assert news is not None and news.kind.id == "poisoning" and news.asking


def test_an_undiacritised_word_in_a_marked_sentence_merges_like_the_others(matcher: DangerMatcher):
    # "gian" and "dan" carry no diacritic; with marks around they are one sound (d/gi merged), so
    # the exception "giết thời gian" still covers the line's "giết thời dan".
    assert matcher.find("ngồi giết thời gian bằng điện thoại") is None
    assert matcher.find("ngồi giết thời dan bằng điện thoại") is None
    assert matcher.find("nó dọa giết cả nhà tôi") is not None


@pytest.mark.parametrize("text, kind, asking", [
    # Callers who play the danger down and ask whether to get help now are put through at once:
    # "có phải gọi cấp cứu không" is not a question about support.
    ("chắc không sao đâu, ông nhà tôi tự nhiên méo miệng, tôi có phải gọi ai không", "medical", False),
    ("không biết gọi đây có đúng không, quán đầu phố có khói bốc ra cửa sổ", "fire", False),
    ("hỏi thử thôi, con bé nuốt viên pin, có phải đi viện không", "poisoning", False),
    # ...but a question whether it is danger at all is asked about first.
    ("ăn xong hơi đầy bụng, ợ chua, thế có phải ngộ độc không", "poisoning", True),
    ("chỉ ngất một tí thôi mà giờ bố tôi vẫn chưa tỉnh lại", "medical", False),
    ("bầm tôi ngã trong nhà tắm, gọi không thưa", "medical", False),
    ("khong dam lam phien nhung dau ngo co mui gas nong nac", "fire", False),
    ("tôi hỏi thật, bao nhiêu viên paracetamol thì đủ, tôi có cả hộp rồi", "suicide", False),
    # A caller who cannot speak freely: urgency and an address, no danger named (asked: "có" or key 1).
    ("em hỏi về khoản hỗ trợ thôi... vâng... ngõ 5 nhà số 12... nhanh lên", "medical", True),
])
def test_danger_played_down_or_only_hinted_at(matcher: DangerMatcher, text: str, kind: str, asking: bool):
    found = matcher.find(text)
    assert found is not None and found.kind.id == kind and found.asking is asking


@pytest.mark.parametrize("text", [
    "da khong co ai bi nhot dau, chi la khu nha toi bi phong toa hai muoi ngay",  # nobody, negated
    "cả nhà sốt nhẹ với ho, không ai khó thở, xin tư vấn chăm sóc tại nhà",
    "hạ sốt cho trẻ uống bao nhiêu viên thì đủ một ngày",  # a dosage question
    "bác test nhanh lên hai vạch rồi, ở nhà uống thuốc gì",
    "nhà tôi khó khăn muốn chết, chuẩn hộ nghèo là bao nhiêu",
    "tôi tưởng đột quỵ đến nơi khi thấy tên bị gạch khỏi danh sách",
])
def test_reassurance_and_figures_of_speech_are_not_danger(matcher: DangerMatcher, text: str):
    assert matcher.find(text) is None
