"""Checks the deployment files without a cluster or a Docker engine.

- The kustomize base and overlay render (with `kubectl kustomize` when kubectl is installed;
  otherwise the base files are read directly) into a Deployment and a Service that agree:
  gRPC health probes on the port the server listens on, the Service targeting that port, a
  grace period longer than the drain, and only flags that ancat-server really has.
- The Dockerfile's runtime stage installs a Debian package for every shared library the
  built ancat-server and ancat-client load (ldd + dpkg -S), and copies paths that exist.

Environment: ANCAT_BUILD_DIR (the CMake build folder), set by ctest.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUILD = Path(os.environ.get("ANCAT_BUILD_DIR", ROOT / "build"))
# In every Debian image already (essential or base), never listed.
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}


def render(kustomization_dir: Path):
    if shutil.which("kubectl"):
        out = subprocess.run(["kubectl", "kustomize", str(kustomization_dir)], check=True,
                             capture_output=True, text=True).stdout
        return [d for d in yaml.safe_load_all(out) if d]
    if kustomization_dir != HERE / "base":
        pytest.skip("kubectl is not installed: overlays are not rendered")
    kust = yaml.safe_load((kustomization_dir / "kustomization.yaml").read_text())
    return [yaml.safe_load((kustomization_dir / r).read_text()) for r in kust["resources"]]


def by_kind(objects, kind):
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def flag_values(args):
    values = {}
    for a in args:
        m = re.fullmatch(r"--([a-z_]+)=(.*)", a)
        assert m, f"container arg {a!r} is not --flag=value"
        values[m.group(1)] = m.group(2)
    return values


def server_flags():
    binary = BUILD / "service" / "ancat-server"
    if not binary.exists():
        pytest.skip(f"{binary} is not built")
    text = subprocess.run([str(binary), "--helpfull"], capture_output=True, text=True).stdout
    return set(re.findall(r"^\s+--([a-z_]+) ", text, flags=re.M))


@pytest.mark.parametrize("where", ["base", "overlays/production"])
def test_deployment_and_service_agree(where):
    objects = render(HERE / where)
    deployment = by_kind(objects, "Deployment")
    service = by_kind(objects, "Service")
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()

    (container,) = pod["spec"]["containers"]
    flags = flag_values(container["args"])
    assert "model" in flags and "listen" in flags
    listen_port = int(flags["listen"].rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["grpc"] == listen_port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == listen_port, probe
    if "metrics_listen" in flags:  # scraped where the server serves /metrics
        metrics_port = int(flags["metrics_listen"].rsplit(":", 1)[1])
        assert ports["metrics"] == metrics_port
        annotations = pod["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/port") == str(metrics_port)

    (svc_port,) = service["spec"]["ports"]
    target = svc_port["targetPort"]
    assert (ports[target] if isinstance(target, str) else target) == listen_port
    assert svc_port.get("appProtocol") == "grpc"

    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    pause = float(pre_stop[-1]) if pre_stop[0].endswith("sleep") else 0.0
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    assert grace > float(flags.get("drain_seconds", 20)) + pause


@pytest.mark.parametrize("where", ["base", "overlays/production"])
def test_manifest_flags_exist(where):
    known = server_flags()
    (container,) = by_kind(render(HERE / where), "Deployment")["spec"]["template"]["spec"][
        "containers"]
    unknown = set(flag_values(container["args"])) - known
    assert not unknown, f"ancat-server has no flags {sorted(unknown)}"


def test_overlay_pins_the_image():
    deployment = by_kind(render(HERE / "overlays/production"), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert re.fullmatch(r".+/ancat-server:\d+\.\d+\.\d+", container["image"])
    assert deployment["spec"]["replicas"] > 1


def dockerfile_runtime_packages():
    text = (HERE / "Dockerfile").read_text().replace("\\\n", " ")
    runtime = text.split("FROM debian:bookworm-slim", 1)[1]
    m = re.search(r"apt-get install -y --no-install-recommends ([^&]+)&&", runtime)
    assert m, "runtime stage has no apt-get install line"
    return set(m.group(1).split())


def packages_of(libraries):
    """Debian package of each library path (one dpkg query: it is slow per call)."""
    paths = sorted({p for lib in libraries for p in (lib, os.path.realpath(lib))})
    out = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True).stdout
    owner = {}
    for line in out.splitlines():
        pkg, _, path = line.partition(": ")
        owner[path.strip()] = pkg.split(":")[0]  # "libfoo:amd64" -> "libfoo"
    result = set()
    for lib in libraries:
        pkg = owner.get(lib) or owner.get(os.path.realpath(lib))
        assert pkg, f"no Debian package owns {lib}"
        result.add(pkg)
    return result


@pytest.mark.parametrize("binary", ["service/ancat-server", "client/ancat-client"])
def test_runtime_stage_has_every_shared_library(binary):
    path = BUILD / binary
    if not path.exists():
        pytest.skip(f"{path} is not built")
    ldd = subprocess.run(["ldd", str(path)], check=True, capture_output=True, text=True).stdout
    libraries = re.findall(r"=> (/\S+)", ldd)
    needed = packages_of(libraries) - BASE_PACKAGES
    missing = needed - dockerfile_runtime_packages()
    assert not missing, f"deploy/Dockerfile runtime stage lacks {sorted(missing)}"


def test_dockerfile_copies_what_exists():
    text = (HERE / "Dockerfile").read_text()
    for src in re.findall(r"^COPY (?!--from)(\S+) ", text, flags=re.M):
        if src != ".":
            assert (ROOT / src).exists(), f"COPY {src}: no such path in the repository"
    for target in re.findall(r"--target ([\w-]+(?: [\w-]+)*)", text)[0].split():
        assert re.search(rf"add_executable\({target}\b",
                         "".join(p.read_text() for p in ROOT.glob("*/CMakeLists.txt"))), target
