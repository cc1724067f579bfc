"""Custom actions: the answer gate, transfers with their reason, repeat, rephrase-once.

Every turn dispatches what to say plus one decision in the first message's `custom`:
{"action": "answer" | "transfer" | "dialog" | "end", "faq_id", "branch", "reason", "recent",
 "intent", "confidence"}; `reason` is a code of bot/policy/reasons.py, the module the gateway
reads it with. What is said is always a response of the domain (built from
data/faq/) named here and rendered by the Rasa server; the actions never hold text.
The domain is not sent to this server (selective domain, for latency); the few facts the
actions need travel as slots with initial values (see bot/content/build.py).
"""
from __future__ import annotations

import functools
from abc import ABCMeta, abstractmethod
import re
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.config import DialogueSettings, load_settings
from bot.content.model import BRANCH_WORDS
from bot.policy.reasons import Reason, detail_of
from bot.text import strip_diacritics

RECENT_TURNS = 3  # caller sentences handed to the human with a transfer

Say = Tuple[Text, Optional[int]]  # (response name, branch to fill {branch}/{branch_name} with)
Events = List[Dict[Text, Any]]


@functools.lru_cache(maxsize=1)
def dialogue_settings() -> DialogueSettings:
    """Read once per action-server process (BOT_SETTINGS / settings.yml)."""
    return load_settings().dialogue


def recent_caller_sentences(tracker: Tracker) -> List[Text]:
    said = [e.get("text") for e in tracker.events if e.get("event") == "user" and e.get("text")]
    return said[-RECENT_TURNS:]


def decide(dispatcher: CollectingDispatcher, tracker: Tracker, say: List[Say], action: Text, *,
           faq_id: Optional[Text] = None, branch: Optional[int] = None, reason: Text = "",
           recent: Optional[List[Text]] = None, fill: Optional[Dict[Text, Text]] = None) -> None:
    """Say the responses in order; the first message carries the turn's decision. `reason`: a
    code of bot/policy/reasons.py, as `Reason.X.text(detail)`."""
    intent = tracker.latest_message.get("intent") or {}
    decision = {"action": action, "faq_id": faq_id, "branch": branch, "reason": reason,
                "intent": intent.get("name"), "confidence": intent.get("confidence")}
    if recent is not None:
        decision["recent"] = recent
    names = tracker.get_slot("branch_names") or {}
    for i, (response, fill_branch) in enumerate(say):
        values = dict(fill or {})
        if fill_branch is not None:
            values.update(branch=BRANCH_WORDS.get(fill_branch, str(fill_branch)),
                          branch_name=names.get(str(fill_branch), ""))
        dispatcher.utter_message(response=response, json_message=decision if i == 0 else {"action": None}, **values)


def transfer(dispatcher: CollectingDispatcher, tracker: Tracker, say: Say, branch: int,
             reason: Text, faq_id: Optional[Text] = None) -> Events:
    decide(dispatcher, tracker, [say], "transfer", faq_id=faq_id, branch=branch, reason=reason,
           recent=recent_caller_sentences(tracker))
    return [SlotSet("misses", 0.0), SlotSet("offer", None)]


def not_understood(dispatcher: CollectingDispatcher, tracker: Tracker, reason: Text) -> Events:
    """Ask to rephrase once; the next miss in a row goes to a person."""
    misses = int(tracker.get_slot("misses") or 0) + 1
    settings = dialogue_settings()
    if misses >= settings.max_misses:
        branch = settings.human_branch
        return transfer(dispatcher, tracker, ("utter_prompt_not_understood_transfer", branch), branch,
                        Reason.NOT_UNDERSTOOD.text(reason))
    decide(dispatcher, tracker, [("utter_prompt_rephrase", None)], "dialog", reason=Reason.REPHRASE.text(reason))
    return [SlotSet("misses", float(misses))]


def intent_name(tracker: Tracker) -> Text:
    return (tracker.latest_message.get("intent") or {}).get("name") or ""


# ── the either/or question ──────────────────────────────────────────────────────────────────────
FIRST_WORDS = frozenset({"1", "mot", "nhat", "dau", "truoc"})  # "một", "thứ nhất", "cái đầu", "cái trước"
SECOND_WORDS = frozenset({"2", "hai", "sau"})                   # "hai", "thứ hai", "cái sau"
NEW_QUESTION_WORDS = 7  # an unresolved reply this long is a new question, not an answer to ours
# Words that name no entry: a topic's "cho"/"của" must not decide between two topics.
FUNCTION_WORDS = frozenset({"cho", "cua", "ve", "va", "hoac", "o", "khi", "la", "cac", "nhung", "the", "nao",
                            "thi", "ma", "duoc", "co", "khong", "nguoi", "tu", "tren"})


def bare_words(text: Text) -> List[Text]:
    return re.findall(r"\w+", strip_diacritics(text).lower())


def close_pair(tracker: Tracker) -> Optional[Tuple[Text, Text]]:
    """The two most likely FAQ entries when the second is nearly as likely as the first (and both
    have a topic to name them by): guessing between them could read out the wrong amount."""
    selector = (tracker.latest_message.get("response_selector") or {}).get("faq") or {}
    ranking = selector.get("ranking") or []
    if len(ranking) < 2:
        return None
    first, second = ranking[0], ranking[1]
    p1, p2 = float(first.get("confidence") or 0.0), float(second.get("confidence") or 0.0)
    if p1 <= 0.0 or p2 / p1 < dialogue_settings().clarify_ratio:
        return None
    topics = tracker.get_slot("faq_topics") or {}
    a, b = _entry(first), _entry(second)
    if a == b or not topics.get(a) or not topics.get(b) or topics[a] == topics[b]:
        return None
    return a, b


def ask_choice(dispatcher: CollectingDispatcher, tracker: Tracker, pair: Tuple[Text, Text], again: bool = False) -> Events:
    topics = tracker.get_slot("faq_topics") or {}
    a, b = pair
    decide(dispatcher, tracker, [("utter_prompt_clarify", None)], "dialog", reason=Reason.CLARIFY.text(f"{a}|{b}"),
           fill={"first": topics.get(a, ""), "second": topics.get(b, "")})
    return [SlotSet("choices", [a, b]), SlotSet("choice_misses", 1.0 if again else 0.0), SlotSet("offer", None)]


def pick_choice(text: Text, pair: List[Text], topics: Dict[Text, Text], ranking: List[Dict[Text, Any]]) -> Optional[Text]:
    """Which of the two entries the caller's reply names, or None."""
    words = set(bare_words(text))
    first, second = bool(words & FIRST_WORDS), bool(words & SECOND_WORDS)
    if first != second:
        return pair[0] if first else pair[1]
    a_words, b_words = (set(bare_words(topics.get(x, ""))) - FUNCTION_WORDS for x in pair)
    a_hits, b_hits = len(words & (a_words - b_words)), len(words & (b_words - a_words))
    if a_hits != b_hits:
        return pair[0] if a_hits > b_hits else pair[1]
    # The classifier on the reply ("cái tiền của người tự do ấy"), when its own first choice is one
    # of the two: an unrelated reply must not pick one by a hair.
    top = _entry(ranking[0]) if ranking else None
    return top if top in pair else None


def _entry(ranked: Dict[Text, Any]) -> Text:
    return str(ranked.get("intent_response_key") or "").split("/", 1)[-1]


def answer_choice(dispatcher: CollectingDispatcher, tracker: Tracker, pair: List[Text]) -> Optional[Events]:
    """The reply to the either/or question: the chosen entry's answer, the question once more, or
    a person; None if the reply is a new question to be handled as such."""
    text = tracker.latest_message.get("text") or ""
    ranking = ((tracker.latest_message.get("response_selector") or {}).get("faq") or {}).get("ranking") or []
    new_question = (len(text.split()) >= NEW_QUESTION_WORDS and intent_name(tracker) not in ("affirm", "deny", "repeat")
                    and not (intent_name(tracker) == "faq" and ranking and _entry(ranking[0]) in pair))
    if new_question:
        return None  # the caller asked something else: answered as such (a "một" inside it is not a choice)
    chosen = pick_choice(text, pair, tracker.get_slot("faq_topics") or {}, ranking)
    done = [SlotSet("choices", None), SlotSet("choice_misses", 0.0)]
    if chosen:
        return done + answer_faq(dispatcher, tracker, chosen)
    if tracker.get_slot("choice_misses"):
        branch = dialogue_settings().human_branch
        return done + transfer(dispatcher, tracker, ("utter_prompt_not_understood_transfer", branch), branch,
                               Reason.NOT_UNDERSTOOD.text("clarify"))
    return ask_choice(dispatcher, tracker, (pair[0], pair[1]), again=True)


class CallerTurn(Action, metaclass=ABCMeta):  # abstract: rasa_sdk registers only its subclasses
    """Every action that answers a caller's turn. While an either/or question is open (slot
    `choices`), the turn is first read as its answer: "một"/"hai", keypad 1/2, or words of one
    entry's topic answer it; anything else short is asked once more, then goes to a person; a
    new question (a longer sentence) is taken as one and the choice is dropped."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        choices = tracker.get_slot("choices")
        if choices:
            events = answer_choice(dispatcher, tracker, choices)
            if events is not None:
                return events
            return [SlotSet("choices", None), SlotSet("choice_misses", 0.0),
                    *await self.act(dispatcher, tracker, domain)]
        return await self.act(dispatcher, tracker, domain)

    @abstractmethod
    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        """The action's own answer to the turn."""


class ActionAnswerFaq(CallerTurn):
    """The answer gate: only a confident choice of a verified entry is read out."""

    def name(self) -> Text:
        return "action_answer_faq"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        pair = close_pair(tracker)
        if pair:
            return ask_choice(dispatcher, tracker, pair)
        return answer_faq(dispatcher, tracker, chosen_faq(tracker))


def chosen_faq(tracker: Tracker) -> Optional[Text]:
    """The FAQ entry the response selector chose, if it is sure enough to be read out."""
    selector = (tracker.latest_message.get("response_selector") or {}).get("faq") or {}
    chosen = selector.get("response") or {}
    key = chosen.get("intent_response_key") or ""
    faq_id = key.split("/", 1)[-1] if key else ""
    if not faq_id or float(chosen.get("confidence") or 0.0) < dialogue_settings().answer_threshold:
        return None
    return faq_id


def answer_faq(dispatcher: CollectingDispatcher, tracker: Tracker, faq_id: Optional[Text]) -> Events:
    if not faq_id:
        return not_understood(dispatcher, tracker, "low_answer_confidence")
    if faq_id in (tracker.get_slot("unverified_faqs") or []):
        branch = dialogue_settings().unverified_branch
        return transfer(dispatcher, tracker, ("utter_prompt_unverified_transfer", branch), branch,
                        Reason.UNVERIFIED_ANSWER.text(faq_id), faq_id)
    decide(dispatcher, tracker, [(f"utter_faq/{faq_id}", None), ("utter_prompt_anything_else", None)],
           "answer", faq_id=faq_id)
    return [SlotSet("last_answer", faq_id), SlotSet("misses", 0.0), SlotSet("offer", "anything_else")]


def route_danger(dispatcher: CollectingDispatcher, tracker: Tracker, kind: Optional[Text]) -> Events:
    """The kind's message, which says the number, and the transfer at once. The decision's reason
    `danger:<kind>` (Reason.DANGER) tells the gateway to keep the line open if the transfer fails."""
    routes = tracker.get_slot("danger_routes") or {}
    if kind is None:  # the classifier's own emergency intent: a medical danger in the editors' words
        kind = "medical" if "medical" in routes else ""
        say: Say = ("utter_emergency", None)
    else:
        say = (f"utter_danger_{kind}", None)
    route = routes.get(kind, 1)
    branch = dialogue_settings().human_branch if route == "human" else int(route)
    return transfer(dispatcher, tracker, say, branch, Reason.DANGER.text(kind or "medical")) + [
        SlotSet("held", None), SlotSet("choices", None)]


def danger_kind(tracker: Tracker) -> Optional[Text]:
    entities = tracker.latest_message.get("entities") or []
    return next((e.get("value") for e in entities if e.get("entity") == "danger"), None)


class ActionDanger(Action):
    """The safety net (actions/nlu/danger.py) or the classifier's emergency intent."""

    def name(self) -> Text:
        return "action_danger"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        return route_danger(dispatcher, tracker, danger_kind(tracker))


NOT_HELD = ("danger", "danger_check", "emergency")  # unconfirmed danger intents are not the question


class ActionDangerCheck(Action):
    """The safety net's model suspects danger but is not sure: ask (danger.yml `check_question`).
    "có" puts the caller through (action_yes_no, offer `danger:<kind>`), keypad 1 goes to 115 as
    always, "không" carries on with what the sentence would have got. A second suspicion in a
    row is not asked again: the caller is put through."""

    def name(self) -> Text:
        return "action_danger_check"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        kind = danger_kind(tracker)
        if Reason.DANGER.matches(tracker.get_slot("offer")):
            return route_danger(dispatcher, tracker, kind)
        ranking = tracker.latest_message.get("intent_ranking") or []
        held_intent = next((i.get("name") for i in ranking if i.get("name") not in NOT_HELD), None)
        held = {"intent": held_intent, "faq_id": chosen_faq(tracker) if held_intent == "faq" else None}
        decide(dispatcher, tracker, [("utter_danger_check", None)], "dialog", reason=Reason.DANGER_CHECK.text(kind))
        return [SlotSet("offer", Reason.DANGER.text(kind)), SlotSet("held", held)]


class ActionTransfer(CallerTurn):
    """Routing intents: announce and hand over to the intent's branch."""

    def name(self) -> Text:
        return "action_transfer"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        confidence = float((tracker.latest_message.get("intent") or {}).get("confidence") or 0.0)
        if confidence < dialogue_settings().route_threshold:
            # A branch on weak evidence is a caller handed over before they finished speaking.
            return not_understood(dispatcher, tracker, "low_route_confidence")
        return transfer_for_intent(dispatcher, tracker, intent_name(tracker))


def transfer_for_intent(dispatcher: CollectingDispatcher, tracker: Tracker, intent: Text) -> Events:
    route = (tracker.get_slot("intent_routes") or {}).get(intent, "human")
    human = dialogue_settings().human_branch
    branch = int(route.removeprefix("branch_")) if route.startswith("branch_") else human
    say = ("utter_prompt_human_transfer", branch) if route == "human" else (f"utter_{intent}", None)
    return transfer(dispatcher, tracker, say, branch, Reason.INTENT.text(intent))


class ActionUnclear(CallerTurn):
    def name(self) -> Text:
        return "action_unclear"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        return not_understood(dispatcher, tracker, "low_intent_confidence")


class ActionOutOfScope(CallerTurn):
    def name(self) -> Text:
        return "action_out_of_scope"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        return out_of_scope(dispatcher, tracker)


def out_of_scope(dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
    decide(dispatcher, tracker, [("utter_out_of_scope", None)], "dialog", reason=Reason.OUT_OF_SCOPE.text())
    return [SlotSet("misses", 0.0), SlotSet("offer", "transfer")]


class ActionYesNo(CallerTurn):
    """'vâng' / 'không' mean different things after an answer and after an offer of a person."""

    def name(self) -> Text:
        return "action_yes_no"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        yes = intent_name(tracker) == "affirm"
        offer = tracker.get_slot("offer")
        if Reason.DANGER.matches(offer):
            return self.answer_check(dispatcher, tracker, yes, detail_of(offer))
        if offer == "transfer" and yes:
            branch = dialogue_settings().human_branch
            return transfer(dispatcher, tracker, ("utter_prompt_out_of_scope_transfer", branch), branch,
                            Reason.OUT_OF_SCOPE_ACCEPTED.text())
        if offer == "anything_else" and not yes:
            decide(dispatcher, tracker, [("utter_goodbye", None)], "end", reason=Reason.CALLER_DONE.text())
            return [SlotSet("offer", None)]
        if offer == "transfer":  # declined a person: maybe another question
            decide(dispatcher, tracker, [("utter_prompt_anything_else", None)], "dialog",
                   reason=Reason.DECLINED_TRANSFER.text())
            return [SlotSet("offer", "anything_else")]
        say = "utter_prompt_ask_question" if yes else "utter_deny"
        decide(dispatcher, tracker, [(say, None)], "dialog", reason=(Reason.AFFIRM if yes else Reason.DENY).text())
        return [SlotSet("offer", None)]

    @staticmethod
    def answer_check(dispatcher: CollectingDispatcher, tracker: Tracker, yes: bool, kind: Text) -> Events:
        """The answer to the safety net's question: yes puts the caller through for `kind`; no
        carries on with what their sentence would have got (an answer, a branch, or a question)."""
        if yes:
            return route_danger(dispatcher, tracker, kind or None)
        held = tracker.get_slot("held") or {}
        intent = held.get("intent") or ""
        done = [SlotSet("held", None)]
        if intent == "faq" and held.get("faq_id"):
            return answer_faq(dispatcher, tracker, held["faq_id"]) + done
        route = str((tracker.get_slot("intent_routes") or {}).get(intent, "none"))
        if intent not in NOT_HELD and (route.startswith("branch_") or route == "human"):
            return transfer_for_intent(dispatcher, tracker, intent) + done
        if intent == "out_of_scope":
            return out_of_scope(dispatcher, tracker) + done
        decide(dispatcher, tracker, [("utter_prompt_ask_question", None)], "dialog",
               reason=Reason.DANGER_CHECK_DECLINED.text())
        return [SlotSet("offer", None)] + done


class ActionRepeat(CallerTurn):
    def name(self) -> Text:
        return "action_repeat"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        faq_id = tracker.get_slot("last_answer")
        if not faq_id:
            decide(dispatcher, tracker, [("utter_prompt_nothing_to_repeat", None)], "dialog",
                   reason=Reason.NOTHING_TO_REPEAT.text())
            return []
        decide(dispatcher, tracker, [("utter_repeat", None), (f"utter_faq/{faq_id}", None),
                                     ("utter_prompt_anything_else", None)], "dialog", faq_id=faq_id,
               reason=Reason.REPEAT.text())
        return [SlotSet("offer", "anything_else")]


class ActionSmallTalk(CallerTurn):
    """Greetings and thanks: the editor's response; thanks invites another question."""

    def name(self) -> Text:
        return "action_small_talk"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        intent = intent_name(tracker) or "greet"
        decide(dispatcher, tracker, [(f"utter_{intent}", None)], "dialog", reason=Reason.SMALL_TALK.text(intent))
        return [SlotSet("misses", 0.0), SlotSet("offer", "anything_else" if intent == "thanks" else None)]


class ActionGoodbye(CallerTurn):
    """Ends the call, except as the caller's very first words: "chào em" opens a call as often
    as it closes one, and hanging up on a caller who said hello is the worst possible mistake."""

    def name(self) -> Text:
        return "action_goodbye"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> Events:
        if len(recent_caller_sentences(tracker)) <= 1:
            decide(dispatcher, tracker, [("utter_greet", None)], "dialog", reason=Reason.GREETING_FIRST_TURN.text())
            return []
        decide(dispatcher, tracker, [("utter_goodbye", None)], "end", reason=Reason.GOODBYE.text())
        return [SlotSet("offer", None)]
