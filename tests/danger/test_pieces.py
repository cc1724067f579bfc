"""Pieces of ordinary sentences for the safety net's model (bot/danger/pieces.py)."""
from __future__ import annotations

import random

import pytest

from bot.danger.load import load_danger_net
from bot.danger.match import DangerMatcher
from bot.danger.pieces import ordinary_pieces
from tests.conftest import ROOT

SENTENCES = [
    "năm ngoái nhà tôi bị cháy thì có được hỗ trợ gì không",
    "con tôi đang học lớp ba thì có được tiền hỗ trợ không",
    "tôi làm thợ xây từ tháng bảy đến giờ chưa nhận được đồng nào",
    "chào chị",  # too short to cut
]


@pytest.fixture(scope="module")
def matcher() -> DangerMatcher:
    net, problems = load_danger_net(ROOT / "data/faq")
    assert net is not None, [str(p) for p in problems]
    return DangerMatcher(net)


def test_pieces_are_runs_of_two_to_six_words_of_one_sentence(matcher):
    pieces = ordinary_pieces(SENTENCES, matcher, 300, random.Random(1))
    assert pieces
    for piece in pieces:
        assert 2 <= len(piece.split()) <= 6
        assert any(f" {piece} " in f" {s} " for s in SENTENCES[:3]), piece
    assert len(pieces) == len(set(pieces))


def test_a_piece_the_editors_phrases_call_danger_is_left_out(matcher):
    pieces = ordinary_pieces(SENTENCES, matcher, 300, random.Random(2))
    assert "nhà tôi bị cháy" not in pieces
    assert all(matcher.find(p) is None for p in pieces)


def test_longest_bounds_the_pieces_and_the_same_seed_gives_the_same_pieces(matcher):
    short = ordinary_pieces(SENTENCES, matcher, 200, random.Random(3), longest=3)
    assert short and max(len(p.split()) for p in short) <= 3
    assert short == ordinary_pieces(SENTENCES, matcher, 200, random.Random(3), longest=3)
    assert ordinary_pieces(SENTENCES[3:], matcher, 50, random.Random(3)) == []
