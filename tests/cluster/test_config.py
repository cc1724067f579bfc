"""The cluster's configuration, checked by the engines that read it: Kamailio accepts the rendered
configuration (kamailio -c), and Rasa's endpoints.yml names the stores settings.yml asks for."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from bot.brain.servers import BrainStartError, _stores
from bot.cluster import plan, render

KAMAILIO = shutil.which("kamailio")


def test_the_gateways_get_their_own_sip_ports_and_share_the_rtp_range(settings, tmp_path):
    s = settings.replace(cluster={"gateways": 3, "first_port": 16101, "run_dir": str(tmp_path)},
                         sip={"port": 16100, "rtp_port_min": 16120, "rtp_port_max": 16179})
    gateways = plan(s)
    assert [g.sip_port for g in gateways] == [16101, 16102, 16103]
    assert [g.rtp for g in gateways] == [(16120, 16139), (16140, 16159), (16160, 16179)]
    assert [g.pid_file.name for g in gateways] == ["gateway-1.pid", "gateway-2.pid", "gateway-3.pid"]
    with pytest.raises(ValueError, match="overlap"):
        plan(s.replace(cluster={"first_port": 16099}))


@pytest.mark.skipif(KAMAILIO is None, reason="kamailio is not installed (Debian: apt install kamailio)")
def test_kamailio_accepts_the_rendered_configuration(settings, tmp_path):
    s = settings.replace(cluster={"run_dir": str(tmp_path), "first_port": 16101, "ping_s": 1, "pike_per_s": 7},
                         sip={"port": 16100, "allowed_peers": "127.0.0.1, 10.1.0.0/16"})
    cfg = render(s, plan(s))
    text = cfg.read_text()
    assert "{{" not in text
    assert 'listen=udp:127.0.0.1:16100' in text and '"127.0.0.1/32,10.1.0.0/16"' in text
    assert 'modparam("pike", "reqs_density_per_unit", 14)' in text  # 7 per second over 2 s
    assert (tmp_path / "dispatcher.list").read_text().splitlines()[1:] == [
        "1 sip:127.0.0.1:16101 0 0", "1 sip:127.0.0.1:16102 0 0"]
    check = subprocess.run([KAMAILIO, "-c", "-f", str(cfg)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_brain_keeps_conversations_where_settings_say(settings):
    default = yaml.safe_load(_stores(settings))
    assert default == {"tracker_store": {"type": "actions.server.tracker_store.ProcessTrackerStore",
                                         "max_idle_s": 3600}}
    sqlite = yaml.safe_load(_stores(settings.replace(rasa={"tracker_store": "sqlite:///var/brain/t.sqlite3"})))
    assert sqlite["tracker_store"] == {"type": "SQL", "dialect": "sqlite",
                                       "url": f"sqlite:///{settings.root / 'var/brain/t.sqlite3'}"}
    several = yaml.safe_load(_stores(settings.replace(rasa={
        "tracker_store": "postgresql+psycopg://bot:p%40ss@db.lan:5433/branch7",
        "lock_store": "redis://:s3cret@10.0.0.2:6380/2"})))
    # The records' URL works as it is: Rasa's environment has psycopg2, SQLAlchemy's default driver.
    assert several["tracker_store"]["url"] == "postgresql://bot:p%40ss@db.lan:5433/branch7"
    assert several["lock_store"] == {"type": "redis", "url": "10.0.0.2", "port": 6380, "db": 2, "password": "s3cret"}
    with pytest.raises(BrainStartError, match="tracker_store"):
        _stores(settings.replace(rasa={"tracker_store": "mongodb://x"}))
    with pytest.raises(BrainStartError, match="lock_store"):
        _stores(settings.replace(rasa={"lock_store": "http://x"}))
