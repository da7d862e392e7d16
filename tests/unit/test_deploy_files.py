"""docs/deploy/ agrees with the hub: commands, flags, ports, probe paths, config keys, versions.

Nothing here runs Docker or Kubernetes; these checks catch a deploy file that names a
verb, a port, a path or a key the hub does not have.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

from hub.centrifugo import VERSION
from hub.cli import _parser
from hub.settings import load

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy"
ENV = {"HUB_PROXY_SECRET": "p" * 32, "CENTRIFUGO_API_KEY": "k" * 32, "CENTRIFUGO_TOKEN_SECRET": "t" * 32}
SETTINGS = load(DEPLOY / "hub.yaml", environ=ENV)
OPS_PATHS = {"/health", "/ready", "/metrics"}


def test_the_hub_yaml_is_valid_and_needs_only_the_documented_secrets() -> None:
    required = set(re.findall(r"\$\{(\w+)\}", (DEPLOY / "hub.yaml").read_text()))
    assert required == set(ENV)
    assert (SETTINGS.proxy.host, SETTINGS.ops.port, SETTINGS.log_format) == ("0.0.0.0", 9002, "json")


def test_the_commands_exist() -> None:
    texts = [
        (DEPLOY / f).read_text() for f in ("Dockerfile", "compose.yaml", "kubernetes.yaml", "hub.service")
    ]
    verbs = {v for text in texts for v in re.findall(r'\bhub"?,? "?(serve|check|centrifugo)\b', text)}
    assert verbs >= {"serve", "centrifugo"}
    parser = _parser()
    for verb in verbs:
        assert parser.parse_args([verb, *(["config"] if verb == "centrifugo" else [])])


def test_the_dockerfile_exposes_the_configured_ports_and_probes_health() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    (exposed,) = re.findall(r"^EXPOSE (.*)$", text, re.M)
    assert {int(p) for p in exposed.split()} == {SETTINGS.proxy.http_port, SETTINGS.ops.port}
    assert f"127.0.0.1:{SETTINGS.ops.port}/health" in text
    assert 'CMD ["hub", "serve"]' in text


def test_compose_runs_the_pinned_centrifugo_and_gives_the_hub_its_variables() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert compose["services"]["centrifugo"]["image"] == f"centrifugo/centrifugo:v{VERSION}"
    hub = compose["services"]["hub"]
    assert set(ENV) <= set(hub["environment"])
    assert {int(p) for p in hub["expose"]} == {SETTINGS.proxy.http_port, SETTINGS.ops.port}
    grace = int(hub["stop_grace_period"].removesuffix("s"))
    assert grace > SETTINGS.pool.destroy_timeout


def test_kubernetes_probes_ports_and_grace_match_the_hub() -> None:
    deployment, service = yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"proxy": SETTINGS.proxy.http_port, "ops": SETTINGS.ops.port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "ops"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "ops"}
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > SETTINGS.pool.destroy_timeout + pre_stop
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert (int(annotations["prometheus.io/port"]), annotations["prometheus.io/path"]) == (9002, "/metrics")
    assert service["spec"]["ports"][0]["port"] == SETTINGS.proxy.http_port


def test_the_systemd_unit_reloads_with_sighup_and_waits_out_the_drain() -> None:
    unit = configparser.ConfigParser(interpolation=None)
    unit.read(DEPLOY / "hub.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("/hub serve")
    assert "-HUP" in service["ExecReload"]
    assert int(service["TimeoutStopSec"]) > SETTINGS.pool.destroy_timeout


def test_the_ops_listener_serves_the_probe_paths() -> None:
    from hub.ops import OpsServer
    from hub.settings import OpsSettings

    class Quiet:
        stopping = False

        def parts(self) -> list[object]:
            return []

    server = OpsServer(OpsSettings(port=1), Quiet())  # type: ignore[arg-type]
    routes = {route.path for route in server._listener._app.routes}  # type: ignore[attr-defined]
    assert routes == OPS_PATHS


def test_the_nginx_balancer_fronts_the_proxy_port_and_moves_calls_before_sending_them() -> None:
    from hub.centrifugo.config import _proxy

    text = (DEPLOY / "nginx.conf").read_text()
    lines = [line.split("#")[0].strip().rstrip(";") for line in text.splitlines()]
    directives = {
        line.split()[0]: line.split(None, 1)[1:] for line in lines if line and not line.endswith("{")
    }
    upstreams = [line.split()[1] for line in lines if line.startswith("server ") and not line.endswith("{")]
    assert len(upstreams) >= 2
    assert {u.rsplit(":", 1)[1] for u in upstreams} == {str(SETTINGS.proxy.http_port)}
    assert directives["listen"] == [str(SETTINGS.proxy.http_port)]
    # Retried only when the connection failed: never a call a hub may already have run.
    assert directives["proxy_next_upstream"] == ["error timeout"]
    assert "keepalive" not in directives
    assert float(directives["proxy_read_timeout"][0].removesuffix("s")) > SETTINGS.proxy.call_timeout
    assert directives["client_max_body_size"] == [f"{SETTINGS.proxy.max_body_size >> 20}m"]
    # The location covers the endpoints Centrifugo calls (HTTP transport).
    (location,) = [line.split()[1] for line in lines if line.startswith("location ")]
    endpoint = _proxy(SETTINGS.proxy, "rpc")["endpoint"]
    assert endpoint.startswith(f"http://{SETTINGS.proxy.reachable_host}:{SETTINGS.proxy.http_port}{location}")
