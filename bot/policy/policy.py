# Over 400 lines: one state machine whose rules share one state; split, each part would need all of it.
"""CallPolicy: one call's turn-taking rules as a pure state machine.

Fed events stamped with the time (seconds, any origin), it returns the actions to perform. It
never sleeps, reads a clock or does I/O: the gateway sends `Tick`s and the policy compares
times, so tests drive a whole call with made-up times.

Phases: idle → speaking ⇄ listening → thinking → speaking … → done. A `Say` that ends the call
(transfer or goodbye announcement) carries the follow-up (`Transfer` / `Hangup`), which is
emitted when its playback finishes. After a `Transfer` or `Hangup` every event is ignored.

Danger (docs/safety.md) comes before everything: the editors' phrases are matched on every
finished sentence, whatever the phase, and the brain's own `danger:<kind>` decisions are handled
the same way: a short message that cannot be talked over, then the transfer; a keypad press
still works; a failed transfer repeats the number and keeps the line open.
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from bot.content.model import BRANCH_WORDS
from bot.danger.match import DangerMatcher
from bot.danger.model import DangerKind, DangerNet
from bot.policy.commands import (
    Action,
    AskBrain,
    Hangup,
    Listen,
    Say,
    StopSpeaking,
    Transfer,
)
from bot.policy.events import (
    BargeIn,
    BrainDecided,
    CallerHungUp,
    CallerSaid,
    CallStarted,
    Decision,
    Dtmf,
    EngineFailed,
    Event,
    PlaybackFinished,
    Tick,
    TransferFailed,
)
from bot.policy.reasons import Reason, detail_of
from bot.policy.story import TurnsBefore
from bot.text import is_backchannel, normalise_utterance

PromptSource = Callable[[str, int | None], str] | Mapping[str, str]

DEFAULT_BRANCHES = (1, 2, 3, 4, 5, 6)  # without a knowledge base's list (data/faq/meta.yml `branches`)
CHOICE_KEYS = {"1": "một", "2": "hai"}  # the brain's "A, hay B?" (reason `clarify`): keys 1 and 2 answer it


@dataclass(frozen=True)
class PolicyConfig:
    human_branch: int = 5
    no_input_timeout_s: float = 8.0
    max_reprompts: int = 2
    max_call_s: float = 600.0
    recent_turns: int = 3  # caller sentences handed over with a transfer
    # A Say whose PlaybackFinished never comes (a lost event, a dead player) counts as finished
    # after this long, so a call can never hang in silence.
    playback_timeout_s: float = 90.0
    # A caller who speaks again this soon after the bot began answering a turn, over that answer,
    # was pausing in mid-question: the bot stops, and the fragment and the rest go to the brain as
    # one question (0: off; every barge-in is a new question).
    mend_window_s: float = 0.0


@dataclass(frozen=True)
class CallSummary:
    outcome: str  # answered | transferred | hangup | abandoned | in_progress
    branch: int | None
    reason: str  # bot/policy/reasons.py
    turns: int
    recent: list[str]
    answers: list[str]  # FAQ ids read out, in order
    reprompts: int
    duration_s: float
    danger: str | None = None  # the kind of danger recognised, even if the transfer then failed


class Phase(enum.Enum):
    IDLE = "idle"
    SPEAKING = "speaking"
    LISTENING = "listening"
    THINKING = "thinking"
    DONE = "done"


@dataclass
class _Speech:
    """The utterance being played and what happens when it ends (None: the caller's turn)."""

    say: Say
    started: float
    then: Transfer | Hangup | None = None


@dataclass
class _Ended:
    how: str  # transfer | hangup | caller_hung_up
    reason: str
    branch: int | None = None
    t: float = 0.0


@dataclass
class _State:
    phase: Phase = Phase.IDLE
    started: float = 0.0
    speech: _Speech | None = None
    listen_since: float = 0.0
    caller_speaking: bool = False  # voice heard, transcript not yet in: the silence clock waits
    silences: int = 0  # no-input in a row
    reprompts: int = 0
    turns: int = 0
    heard: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    last_said: Say | None = None  # what '9' repeats
    danger: DangerKind | None = None  # the danger being handed over, until its transfer fails
    danger_seen: str | None = None
    asked_danger: str | None = None  # the kind the brain asked about (`danger_check:<kind>`), until the caller answers
    choosing: bool = False  # the brain asked "A, hay B?" (`clarify:`): keypad 1 and 2 answer it
    next_id: int = 0
    asked: str | None = None  # the caller's latest question handed to the brain
    answers_before: int = 0  # len(answers) when it was asked (a mended fragment's answer is dropped)
    reply_id: str | None = None  # the utterance answering it, and when it began
    reply_t: float = 0.0
    mending: str | None = None  # a fragment the caller is completing (barged in on its answer)
    # The reply stopped for it, and the danger the brain's model heard in the fragment: a cough
    # or a "dạ" over the reply is not the rest of the question, and the reply goes on.
    mending_speech: _Speech | None = None
    mending_danger: DangerKind | None = None
    danger_seen_before: str | None = None  # what the call had seen before that danger
    story: TurnsBefore = field(default_factory=TurnsBefore)  # the caller's unanswered words, a "không" to the question
    now: float = 0.0  # time of the latest event
    ended: _Ended | None = None


class CallPolicy:
    def __init__(self, prompts: PromptSource, config: PolicyConfig = PolicyConfig(), *,
                 danger: DangerNet | None = None, branches: Collection[int] | None = None) -> None:
        """`danger`: the editors' safety net (danger.yml). Without one, only the brain's danger
        decisions are recognised (typed tests, a content directory without the file).
        `branches`: the hotline's branches (the editors' meta.yml); their keys transfer."""
        self._prompts = prompts
        self.config = config
        self._keypad = frozenset(str(b) for b in (branches or DEFAULT_BRANCHES) if 1 <= b <= 9)
        self._danger = danger
        self._matcher = DangerMatcher.shared(danger) if danger else None
        self._s = _State()

    @property
    def phase(self) -> Phase:
        return self._s.phase

    # ── entry point ────────────────────────────────────────────────────────────────────────
    def handle(self, event: Event) -> list[Action]:
        s = self._s
        if isinstance(event, TransferFailed):
            return self._transfer_failed(event)
        if s.phase is Phase.DONE:
            return []
        s.now = max(s.now, event.t)
        if isinstance(event, CallStarted):
            return self._start(event.t) if s.phase is Phase.IDLE else []
        if s.phase is Phase.IDLE:
            return []  # nothing happens before the call is answered
        if isinstance(event, CallerHungUp):
            self._end("caller_hung_up", Reason.CALLER_HUNG_UP.text(), None, event.t)
            return []
        if isinstance(event, EngineFailed):
            return self._engine_failed(event)
        if isinstance(event, CallerSaid):
            return self._caller_said(event)
        if isinstance(event, BrainDecided):
            return self._brain_decided(event)
        if isinstance(event, Dtmf):
            return self._dtmf(event)
        if isinstance(event, PlaybackFinished):
            return self._playback_finished(event)
        if isinstance(event, BargeIn):
            return self._barge_in(event)
        if isinstance(event, Tick):
            return self._tick(event.t)
        raise TypeError(f"not a call event: {event!r}")

    def summary(self) -> CallSummary:
        s = self._s
        ended = s.ended
        if ended is None:
            outcome = "in_progress"
        elif ended.how == "transfer":
            outcome = "transferred"
        elif s.answers:
            outcome = "answered"
        else:
            outcome = "hangup" if ended.how == "hangup" else "abandoned"
        end_t = ended.t if ended else s.now
        return CallSummary(outcome=outcome, branch=ended.branch if ended else None,
                           reason=ended.reason if ended else "", turns=s.turns, recent=self._recent(),
                           answers=list(s.answers), reprompts=s.reprompts,
                           duration_s=max(0.0, end_t - s.started), danger=s.danger_seen)

    # ── event handlers ─────────────────────────────────────────────────────────────────────
    def _start(self, t: float) -> list[Action]:
        self._s.started = t
        say = self._say(t, self._prompt("greeting"), prompt="greeting")
        self._s.last_said = say
        return [say]

    def _caller_said(self, e: CallerSaid) -> list[Action]:
        s = self._s
        text = normalise_utterance(e.text)
        fragment, s.mending = s.mending, None
        stopped, s.mending_speech = s.mending_speech, None
        held_danger, s.mending_danger = s.mending_danger, None
        if fragment and (not text or is_backchannel(text)):
            fragment = None  # a cough or a "dạ": nothing to join
            if stopped and s.phase is Phase.LISTENING:
                # Over the reply to the question: it goes on from its start, once (not mendable
                # again, so steady noise cannot restart it for ever); over a danger message, the
                # message and the transfer.
                s.caller_speaking = False
                if held_danger:
                    return self._danger_transfer(held_danger, stopped.say.text, e.t)
                return [self._say_again(stopped, e.t)]
        mended = bool(text and fragment)
        if mended:
            # One question said in two goes: the fragment's turn, words and cut-off answer give
            # way to the whole question.
            text = f"{fragment} {text}"
            s.turns -= 1
            if s.heard and s.heard[-1] == fragment:
                s.heard.pop()
            del s.answers[s.answers_before:]
        if text:
            s.turns += 1
            s.asked_danger = None  # answered: the brain decides what the answer means
            s.choosing = False
            s.heard.append(text)
            del s.heard[:-self.config.recent_turns]  # keep no more of the caller's words than a transfer needs
            found = self._matcher.find(text) if self._matcher else None
            # A phrase in a sentence that asks about support goes to the brain, which asks the
            # caller whether they are in danger (or puts them through if its model is sure). So
            # does one that is danger only without the caller's unanswered words before it, or
            # right after a "không" to the question (bot/policy/story.py), when the brain hears
            # this sentence now; else the phrase decides here.
            if found and not found.asking and not self._handing_over_danger() and \
                    (not self._brain_hears_next() or s.story.phrase_stands(self._matcher, text)):
                return self._danger_transfer(found.kind, found.kind.message, e.t)
        s.caller_speaking = False
        if s.phase is Phase.THINKING:
            return []  # the brain is deciding on the previous sentence; this one stays in `recent`
        if s.phase is Phase.SPEAKING:
            if not s.speech or not s.speech.say.interruptible or not text:
                return []  # words over a closing announcement, or noise: the announcement goes on
            stop: list[Action] = [StopSpeaking()]
            s.speech = None
        else:
            stop = []
        if self._over_time(e.t):
            return stop + self._max_call(e.t)
        if not text:
            return stop + self._no_input(e.t)
        s.silences = 0
        s.phase = Phase.THINKING
        s.asked, s.answers_before, s.reply_id = text, len(s.answers), None
        return stop + [AskBrain(text, mended=mended)]

    def _brain_decided(self, e: BrainDecided) -> list[Action]:
        s = self._s
        if s.phase is not Phase.THINKING:
            return []  # overtaken (keypad, timeout, …): too late to matter
        d: Decision = e.reply
        reply = (d.reply or "").strip()
        said = Reason.of(d.reason)
        s.story.after(s.asked or "", d.reason, d.intent)
        if d.action == "transfer" and said is Reason.DANGER:
            kind = self._kind_of(detail_of(d.reason), reply, d.branch)
            seen_before = s.danger_seen
            actions = self._danger_transfer(kind, reply or kind.message, e.t)
            said = self._matcher.find(s.asked or "") if self._matcher else None
            if said is None or said.asking:
                # Only the brain's model heard danger, maybe in a fragment of a question the
                # caller paused in ("tay cầm một cặp..."): if they go on within the mend window,
                # the whole sentence is judged, as if said without the pause. The editors'
                # phrases are never mended: those words are danger whatever follows.
                s.reply_id, s.reply_t = actions[-1].utterance_id, e.t
                s.danger_seen_before = seen_before
            return actions
        if d.action == "transfer":
            branch = d.branch if d.branch is not None else self.config.human_branch
            text = reply or self._prompt("human_transfer", branch)
            say = self._say(e.t, text, interruptible=False, faq_id=d.faq_id,
                            then=self._transfer(branch, d.reason or Reason.BRAIN.text(), list(d.recent), d.faq_id))
            s.reply_id, s.reply_t = say.utterance_id, e.t  # decided on what may be a fragment: mendable
            return [say]
        if d.action == "end":
            if not reply:
                return [self._end_now(Hangup(Reason.GOODBYE.text()), e.t)]
            say = self._say(e.t, reply, interruptible=False, then=Hangup(Reason.GOODBYE.text()))
            s.reply_id, s.reply_t = say.utterance_id, e.t
            return [say]
        # answer | dialog (and anything unknown, which is safest treated as talk)
        if said is Reason.DANGER_CHECK:
            s.asked_danger = detail_of(d.reason)
        s.choosing = said is Reason.CLARIFY
        if d.action == "answer" and d.faq_id:
            s.answers.append(d.faq_id)
        if not reply:
            return self._listen(e.t)
        say = self._say(e.t, reply, faq_id=d.faq_id)
        s.last_said = say
        s.reply_id, s.reply_t = say.utterance_id, e.t
        return [say]

    def _dtmf(self, e: Dtmf) -> list[Action]:
        s = self._s
        digit = e.digit.strip()
        speech = s.speech if s.phase is Phase.SPEAKING else None
        if self._handing_over_danger() and (digit == "0" or digit in self._keypad):
            # A caller in danger who presses a branch goes there now, without another announcement.
            branch = self.config.human_branch if digit == "0" else int(digit)
            return [StopSpeaking(), self._end_now(self._transfer(branch, Reason.KEYPAD.text()), e.t)]
        if speech and not speech.say.interruptible:
            return []  # the call is already being closed
        stop: list[Action] = [StopSpeaking()] if speech else []
        if s.choosing and digit in CHOICE_KEYS and s.phase is not Phase.THINKING:
            # "Xin nói, hoặc bấm phím, một hay hai": here 1 and 2 choose, they do not transfer.
            s.choosing = False
            s.silences = 0
            s.speech = None
            s.phase = Phase.THINKING
            return stop + [AskBrain(CHOICE_KEYS[digit])]
        if digit == "0":
            s.silences = 0
            branch = self.config.human_branch
            return stop + [self._say(e.t, self._prompt("human_transfer", branch), interruptible=False,
                                     prompt="human_transfer", then=self._transfer(branch, Reason.KEYPAD.text()))]
        if digit in self._keypad:
            s.silences = 0
            branch = int(digit)
            return stop + [self._say(e.t, self._prompt("keypad_transfer", branch), interruptible=False,
                                     prompt="keypad_transfer", then=self._transfer(branch, Reason.KEYPAD.text()))]
        if digit == "9" and s.phase is not Phase.THINKING and s.last_said is not None:
            s.silences = 0
            last = s.last_said
            say = self._say(e.t, last.text, prompt=last.prompt, faq_id=last.faq_id)
            s.last_said = say
            return stop + [say]
        return []  # other keys mean nothing here

    def _playback_finished(self, e: PlaybackFinished) -> list[Action]:
        s = self._s
        if s.phase is not Phase.SPEAKING or s.speech is None or s.speech.say.utterance_id != e.utterance_id:
            return []  # a stopped or older utterance
        return self._finish_speech(e.t)

    def _barge_in(self, e: BargeIn) -> list[Action]:
        s = self._s
        soon = (self.config.mend_window_s > 0 and s.asked is not None and s.reply_id is not None
                and e.t - s.reply_t <= self.config.mend_window_s)
        if s.phase is Phase.LISTENING:
            if soon and not s.caller_speaking and s.last_said is not None \
                    and s.last_said.utterance_id == s.reply_id:
                s.mending = s.asked  # a short reply already over: the caller's words still complete it
            s.caller_speaking = True
            return []
        mend = soon and s.phase is Phase.SPEAKING and s.speech is not None and s.speech.say.utterance_id == s.reply_id
        if mend or (s.phase is Phase.SPEAKING and s.speech and s.speech.say.interruptible):
            if mend:
                # The caller had not finished: their next words complete the question. This holds
                # even over a transfer or goodbye the brain chose for the fragment, and over a
                # danger message only the brain's model chose (the editors' phrases are never
                # mended: that message cannot be talked over).
                s.mending, s.mending_speech = s.asked, s.speech
                if s.danger is not None:
                    s.mending_danger = s.danger
                    s.danger, s.danger_seen = None, s.danger_seen_before
            s.speech = None
            s.phase = Phase.LISTENING
            s.listen_since = e.t
            s.caller_speaking = True
            return [StopSpeaking(), Listen()]
        return []

    def _tick(self, t: float) -> list[Action]:
        s = self._s
        if s.phase is Phase.SPEAKING and s.speech and t - s.speech.started >= self.config.playback_timeout_s:
            return self._finish_speech(t)
        if s.phase in (Phase.LISTENING, Phase.THINKING) and self._over_time(t):
            return self._max_call(t)
        if (s.phase is Phase.LISTENING and not s.caller_speaking
                and t - s.listen_since >= self.config.no_input_timeout_s):
            return self._no_input(t)
        return []

    def _engine_failed(self, e: EngineFailed) -> list[Action]:
        s = self._s
        speech = s.speech if s.phase is Phase.SPEAKING else None
        if speech and speech.then is not None:
            # Already closing (maybe announcing this very failure) and something broke: close now.
            return [StopSpeaking(), self._end_now(speech.then, e.t)]
        stop: list[Action] = [StopSpeaking()] if speech else []
        branch = self.config.human_branch
        return stop + [self._say(e.t, self._prompt("system_error", branch), interruptible=False,
                                 prompt="system_error",
                                 then=self._transfer(branch, Reason.ENGINE_FAILED.text(e.what)))]

    def _transfer_failed(self, e: TransferFailed) -> list[Action]:
        """The line could not take the call: say which number to dial, then end politely."""
        s = self._s
        if s.ended is None or s.ended.how != "transfer":
            return []
        branch = s.ended.branch
        s.ended = None
        s.now = max(s.now, e.t)
        if s.danger is not None:
            # Never simply end a call in danger: say the number again and keep the line open, so
            # the caller can speak or press a key (danger words try the transfer again).
            kind, s.danger = s.danger, None
            say = self._say(e.t, kind.transfer_failed, interruptible=False, prompt=f"danger_{kind.id}_failed")
            s.last_said = say
            return [say]
        return [self._say(e.t, self._prompt("transfer_failed", branch), interruptible=False,
                          prompt="transfer_failed", then=Hangup(Reason.TRANSFER_FAILED.text(e.why)))]

    # ── rules ──────────────────────────────────────────────────────────────────────────────
    def _danger_transfer(self, kind: DangerKind, text: str, t: float) -> list[Action]:
        """The danger message (cannot be talked over), then the transfer the moment it ends."""
        s = self._s
        stop: list[Action] = [StopSpeaking()] if s.phase is Phase.SPEAKING else []
        s.danger = kind
        s.danger_seen = kind.id
        s.silences = 0
        transfer = self._transfer(kind.branch(self.config.human_branch), Reason.DANGER.text(kind.id))
        say = self._say(t, text, interruptible=False, prompt=f"danger_{kind.id}", then=transfer)
        s.last_said = say
        return stop + [say]

    def _brain_hears_next(self) -> bool:
        """A sentence the caller finishes now goes to the brain (not while it decides on the
        previous one, nor over an announcement that cannot be interrupted)."""
        s = self._s
        if s.phase is Phase.THINKING:
            return False
        return s.phase is not Phase.SPEAKING or (s.speech is not None and s.speech.say.interruptible)

    def _handing_over_danger(self) -> bool:
        s = self._s
        return (s.phase is Phase.SPEAKING and s.speech is not None and isinstance(s.speech.then, Transfer)
                and Reason.DANGER.matches(s.speech.then.reason))

    def _kind_of(self, kind_id: str, said: str, branch: int | None) -> DangerKind:
        """The editors' kind for a brain decision; a kind this gateway does not know (an older
        danger.yml) still repeats what the brain said if the transfer fails."""
        known = self._danger.kind(kind_id) if self._danger else None
        if known is not None:
            return known
        return DangerKind(kind_id, "", branch if branch is not None else 1, said, said, ())

    def _no_input(self, t: float) -> list[Action]:
        s = self._s
        if s.asked_danger is not None:
            # Asked whether they are in danger, the caller says nothing: someone who cannot speak
            # freely may be exactly who was asked. A person takes the call rather than a reprompt.
            kind = self._kind_of(s.asked_danger, self._prompt("human_transfer", 1), 1)
            s.asked_danger = None
            return self._danger_transfer(kind, kind.message, t)
        s.silences += 1
        if s.silences > self.config.max_reprompts:
            return [self._say(t, self._prompt("no_input_goodbye"), interruptible=False,
                              prompt="no_input_goodbye", then=Hangup(Reason.NO_INPUT.text()))]
        s.reprompts += 1
        return [self._say(t, self._prompt("empty_input"), prompt="empty_input")]

    def _max_call(self, t: float) -> list[Action]:
        branch = self.config.human_branch
        return [self._say(t, self._prompt("max_call_length", branch), interruptible=False,
                          prompt="max_call_length", then=self._transfer(branch, Reason.MAX_CALL_LENGTH.text()))]

    # ── helpers ────────────────────────────────────────────────────────────────────────────
    def _transfer(self, branch: int, reason: str, recent: list[str] | None = None,
                  faq_id: str | None = None) -> Transfer:
        """A transfer with what goes with it: the caller's last sentences and the FAQ entry the
        bot recognised (the decision's, else the last one answered on this call)."""
        answers = self._s.answers
        return Transfer(branch, reason, recent or self._recent(), faq_id or (answers[-1] if answers else None))

    def _finish_speech(self, t: float) -> list[Action]:
        speech = self._s.speech
        self._s.speech = None
        if speech is not None and speech.then is not None:
            return [self._end_now(speech.then, t)]
        return self._listen(t)

    def _listen(self, t: float) -> list[Action]:
        """Give the caller the floor, unless the call has gone on too long."""
        if self._over_time(t):
            return self._max_call(t)
        s = self._s
        s.phase = Phase.LISTENING
        s.listen_since = t
        s.caller_speaking = False
        return [Listen()]

    def _say(self, t: float, text: str, *, interruptible: bool = True, prompt: str | None = None,
             faq_id: str | None = None, then: Transfer | Hangup | None = None) -> Say:
        s = self._s
        s.next_id += 1
        say = Say(text, f"u{s.next_id}", interruptible, prompt, faq_id)
        s.phase = Phase.SPEAKING
        s.speech = _Speech(say, t, then)
        return say

    def _say_again(self, stopped: _Speech, t: float) -> Say:
        """A stopped utterance from its start, with what was to follow it."""
        said = stopped.say
        say = self._say(t, said.text, interruptible=said.interruptible, prompt=said.prompt, faq_id=said.faq_id,
                        then=stopped.then)
        if self._s.last_said is said:
            self._s.last_said = say
        return say

    def _end_now(self, action: Transfer | Hangup, t: float) -> Transfer | Hangup:
        if isinstance(action, Transfer):
            self._end("transfer", action.reason, action.branch, t)
        else:
            self._end("hangup", action.reason, None, t)
        return action

    def _end(self, how: str, reason: str, branch: int | None, t: float) -> None:
        s = self._s
        s.phase = Phase.DONE
        s.speech = None
        s.ended = _Ended(how, reason, branch, t)

    def _over_time(self, t: float) -> bool:
        return t - self._s.started >= self.config.max_call_s

    def _recent(self) -> list[str]:
        return self._s.heard[-self.config.recent_turns:]

    def _prompt(self, name: str, branch: int | None = None) -> str:
        if callable(self._prompts):
            return self._prompts(name, branch)
        text = self._prompts[name]
        if branch is not None:
            text = text.replace("{branch}", BRANCH_WORDS.get(branch, str(branch)))
        return text
