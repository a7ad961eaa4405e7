"""A private CrowdSec 1.4.6 Local API on loopback, for tests: its own config, database and hub dir.

No Central API (no ``online_client`` in the config and ``-no-capi``), no agent (``-no-cs``), no
Prometheus listener: it only serves the LAPI, the way a bouncer sees it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..helpers import free_port
from .conftest import answers, daemon

CONFIG = """\
common:
  daemonize: false
  log_media: stdout
  log_level: info
  working_dir: .
config_paths:
  config_dir: {dir}/
  data_dir: {dir}/data/
  simulation_path: {dir}/simulation.yaml
  hub_dir: {dir}/hub/
  index_path: {dir}/hub/.index.json
  notification_dir: {dir}/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
crowdsec_service:
  acquisition_path: {dir}/acquis.yaml
cscli:
  output: human
db_config:
  type: sqlite
  db_path: {dir}/data/crowdsec.db
  use_wal: true
api:
  client:
    credentials_path: {dir}/local_api_credentials.yaml
  server:
    listen_uri: {listen}
    profiles_path: /etc/crowdsec/profiles.yaml
    trusted_ips: [127.0.0.1]
prometheus:
  enabled: false
"""


@dataclass
class Lapi:
    url: str
    config: Path

    def cscli(self, *args: str) -> str:
        done = subprocess.run(["cscli", "-c", str(self.config), *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def bouncer_key(self, name: str) -> str:
        return self.cscli("bouncers", "add", name, "-o", "raw").strip()


@contextmanager
def running_lapi(folder: Path, listen_host: str = "127.0.0.1") -> Iterator[Lapi]:
    (folder / "data").mkdir(parents=True)
    (folder / "hub").mkdir()
    (folder / "hub" / ".index.json").write_text("{}")
    (folder / "simulation.yaml").write_text("simulation: off\n")
    listen = f"{listen_host}:{free_port()}"
    config = folder / "config.yaml"
    config.write_text(CONFIG.format(dir=folder, listen=listen))
    url = f"http://{listen}"
    with daemon(["crowdsec", "-c", config, "-no-cs", "-no-capi"], folder / "crowdsec.log",
                answers(f"{url}/v1/decisions", status=403)):  # fmt: skip
        lapi = Lapi(url, config)
        lapi.cscli("machines", "add", "tests", "--auto", "--force", "-f", str(folder / "local_api_credentials.yaml"),
                   "--url", url)  # fmt: skip
        yield lapi
