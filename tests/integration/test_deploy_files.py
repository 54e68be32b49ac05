"""deploy/: the Dockerfile, the compose file, Prometheus' config and the systemd unit hold what
an operator relies on. Docker cannot build or pull here (no daemon), so the files are checked
with the tools that can run: PyYAML, ``promtool check config``, ``systemd-analyze verify``, and
the image's own entry point and HEALTHCHECK run against a real ``optrunner serve``."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from test_service_e2e import free_port, wait_until

from service_cases import DAY, TOKEN, make_case

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) in order, continuation lines joined, comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            rows.append((word.upper(), rest.strip()))
    return rows


def instruction(name: str) -> list[str]:
    return [rest for word, rest in dockerfile() if word == name]


def test_dockerfile_essentials() -> None:
    rows = dockerfile()
    assert rows[0] == ("FROM", "python:3.11-slim")
    for source in (a.split()[:-1] for a in instruction("COPY")):  # what the build copies exists
        for path in source:
            assert (ROOT / path).exists(), path
    users = instruction("USER")
    assert users and users[-1] not in ("root", "0")
    words = [w for w, _ in rows]
    assert words.index("USER") < words.index("ENTRYPOINT")  # the service never runs as root
    entry = json.loads(instruction("ENTRYPOINT")[0])
    assert entry[:2] == ["optrunner", "serve"] and entry[entry.index("--host") + 1] == "0.0.0.0"
    assert instruction("EXPOSE") == [entry[entry.index("--port") + 1]]
    assert instruction("STOPSIGNAL") == ["SIGTERM"]
    assert "/api/health" in instruction("HEALTHCHECK")[0]
    assert not any("TOKEN" in a for a in instruction("ENV"))  # the token comes at run time, never baked in


def test_compose_file_essentials() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    default = {n for n, v in services.items() if not v.get("profiles")}
    assert default == {"app", "postgres", "redis", "prometheus"}  # `docker compose up`: the single process
    app = services["app"]
    assert app["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert (DEPLOY / app["build"]["context"] / app["build"]["dockerfile"]).is_file()
    assert app["ports"] == ["127.0.0.1:8000:8000"]  # the API can trade: loopback only
    assert app["stop_signal"] == "SIGTERM" and app["restart"] == "on-failure"
    assert app["environment"]["OPTRUNNER_API_TOKEN"].startswith("${OPTRUNNER_API_TOKEN:?")  # required, not defaulted
    assert "@postgres:5432/" in app["environment"]["OPTRUNNER_STORE"]
    assert "--broker-state" in app["command"]  # a store that is not a SQLite file needs it
    assert {k: v["condition"] for k, v in app["depends_on"].items()} == {"postgres": "service_healthy",
                                                                        "redis": "service_healthy"}  # fmt: skip
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]
    prom = services["prometheus"]
    assert "./prometheus:/etc/prometheus:ro" in prom["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    for service in services.values():  # every published port on loopback
        assert all(p.startswith("127.0.0.1:") for p in service.get("ports", []))


def test_compose_scale_out_services_and_live_gateways() -> None:
    """The four services (profile services) and, per live broker, a risk service and a gateway
    (profile live = Kite; dhan, shoonya) run the light entry point with the right broker."""
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    profile = {n: tuple(v.get("profiles", ())) for n, v in services.items()}
    assert {n for n, p in profile.items() if p == ("services",)} == {"feed", "strategies", "risk", "gateway"}
    for name, prof, broker in (("kite", "live", "kite"), ("dhan", "dhan", "dhan"), ("shoonya", "shoonya", "shoonya")):
        for kind in ("risk", "gateway"):
            svc = services[f"{kind}-{name}"]
            assert profile[f"{kind}-{name}"] == (prof,)
            cmd = svc["command"]
            assert cmd[0] == kind and cmd[cmd.index("--broker") + 1] == broker and "--name" in cmd
        gw = services[f"gateway-{name}"]
        assert gw["env_file"] == ["brokers.env"] and gw["environment"]["OPTRUNNER_TOKEN_DIR"] == "/tokens"
        assert "tokens:/tokens" in gw["volumes"] and "state:/var/lib/optrunner" in gw["volumes"]
        assert gw["command"][gw["command"].index("--broker-state") + 1].startswith("/var/lib/optrunner/")
    assert services["gateway"]["command"][:3] == ["gateway", "--broker", "paper"]
    for name, svc in services.items():
        if svc.get("profiles"):
            assert svc["entrypoint"] == ["python", "-m", "optrunner.bus"] and svc["stop_signal"] == "SIGTERM"
            assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
            assert svc["command"][svc["command"].index("--redis") + 1] == "redis://redis:6379/0", name
            assert "KEY" not in str(svc) and "SECRET" not in str(svc)  # broker secrets stay in brokers.env
    assert "@postgres:5432/" in services["strategies"]["environment"]["OPTRUNNER_STORE"]
    assert "deploy/brokers.env" in (ROOT / ".gitignore").read_text().splitlines()


def test_prometheus_scrapes_the_app() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics" and job["static_configs"] == [{"targets": ["app:8000"]}]


def test_promtool_accepts_the_prometheus_config(tmp_path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus); the YAML checks above still ran")
    shutil.copy(DEPLOY / "prometheus" / "prometheus.yml", tmp_path)
    rules = DEPLOY / "prometheus" / "alerts.yml"  # seed 001's rules, written separately
    if rules.is_file():
        shutil.copy(rules, tmp_path)
    else:
        (tmp_path / "alerts.yml").write_text("groups: []\n")
    r = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    text = (DEPLOY / "optrunner.service").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_unit_essentials(tmp_path) -> None:
    s = unit_settings()
    assert s["EnvironmentFile"] == ["/etc/optrunner/optrunner.env"]
    assert s["Restart"] == ["on-failure"] and s["KillSignal"] == ["SIGTERM"] and s["TimeoutStopSec"] == ["10"]
    assert s["User"] == ["optrunner"]
    argv = shlex.split(s["ExecStart"][0])
    assert argv[1] == "serve" and "--feed" in argv and "TOKEN" not in s["ExecStart"][0]
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    unit = tmp_path / "optrunner.service"  # the install path does not exist here: point at a real binary
    unit.write_text((DEPLOY / "optrunner.service").read_text().replace(argv[0], "/bin/true"))
    r = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_the_env_example_holds_no_real_secret() -> None:
    lines = [x for x in (DEPLOY / "optrunner.env.example").read_text().splitlines() if x and not x.startswith("#")]
    assert dict(x.split("=", 1) for x in lines) == {"OPTRUNNER_API_TOKEN": "change-me-to-a-long-random-string",
                                                    "POSTGRES_PASSWORD": "change-me-too"}  # fmt: skip
    assert "deploy/.env" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.slow
def test_the_image_entry_point_and_healthcheck_against_a_real_service(tmp_path) -> None:
    """The ENTRYPOINT's arguments start the service (on a free port instead of 8000), and the
    HEALTHCHECK's command, run as written, says healthy — then SIGTERM exits 0."""
    catalog, configs = make_case(tmp_path)
    port = free_port()
    entry = json.loads(instruction("ENTRYPOINT")[0])
    entry[entry.index("--port") + 1] = str(port)
    check = json.loads(instruction("HEALTHCHECK")[0].split(" CMD ", 1)[1])
    check = [a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in check]
    assert check[0] == "python"
    env = {**os.environ, "OPTRUNNER_API_TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "optrunner.cli", *entry[1:], "--config-dir", str(configs), "--data", str(catalog),
           "--date", DAY.isoformat(), "--store", f"sqlite:///{tmp_path / 's.sqlite'}", "--pace-ms", "20"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            wait_until(lambda: http.get("/api/health").status_code == 200, 60, "the service to answer")
        r = subprocess.run([sys.executable, *check[1:]], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
