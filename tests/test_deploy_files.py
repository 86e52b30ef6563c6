"""The deployment files (Dockerfile, deploy/compose.yaml, deploy/k8s/) checked without Docker or a
cluster: they parse, have the structure their tools need, set only HDB_* variables the service
reads, mount secrets from files and Secret objects, probe health endpoints the API serves, run
files that exist in the repository and in the image, and give each worker slot (deploy/k8s and its
blue-green/ green slot) the build id of the image it runs.

Each check is a function returning a list of problems; the tests assert the real files have none,
and that a broken copy of each file has the problem the check is there to catch.
"""

from __future__ import annotations

import ast
import copy
import fnmatch
import functools
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import ValidationError

from billing.book import parse_book
from settings import Settings

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
GREEN = K8S / "blue-green"  # the second worker slot of a blue-green rollout
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
COMPOSE = DEPLOY / "compose.yaml"

HDB_NAME = re.compile(r"HDB_[A-Z0-9_]*[A-Z0-9]")
HDB_LITERAL = re.compile(r"HDB_[A-Z0-9_]+")
# Names that hold a secret value: never in a ConfigMap, a compose environment or an ENV line.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|SIGNING_KEY|DATABASE_URL")
# ... unless they name a file or folder holding it.
PATH_NAME = re.compile(r"_(FILE|DIR|PATH)$")
CREDENTIALS_IN_URL = re.compile(r"://[^/@\s:]+:[^/@\s]+@")
OUR_SECRET_FILES = {"webhook_secret", "signing_key"}
HEALTH_PATHS = {"/health/live", "/health/ready"}
API_COMMAND = ["python", "starter.py", "serve", "--host", "0.0.0.0"]
WORKER_COMMAND = ["python", "worker.py"]


# ---- what the service reads ---------------------------------------------------------------------


@functools.cache
def connector_variables(folders: tuple[str, ...] = ("connectors", "api")) -> frozenset[str]:
    """HDB_* names in the string literals of connectors/*.py and api/*.py: whole names, names
    built from a prefix literal ("HDB_DJANGO_HELPDESK_" + "URL"), and secrets read through
    ``read_secret(..., "name")`` (the environment's ``HDB_<NAME>``)."""
    names: set[str] = set()
    for folder in folders:
        for source in sorted((REPO / folder).glob("*.py")):
            tree = ast.parse(source.read_text(encoding="utf-8"))
            literals = [
                node.value
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
            ]
            found = {name for text in literals for name in HDB_LITERAL.findall(text)}
            prefixes = {name for name in found if name.endswith("_")}
            names |= found - prefixes
            suffixes = {text for text in literals if re.fullmatch(r"[A-Z][A-Z0-9_]*", text)}
            names |= {prefix + suffix for prefix in prefixes for suffix in suffixes}
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and _called(node) == "read_secret":
                    names |= {
                        "HDB_" + argument.value.upper()
                        for argument in node.args
                        if isinstance(argument, ast.Constant)
                        and isinstance(argument.value, str)
                        and re.fullmatch(r"[a-z][a-z0-9_]*", argument.value)
                    }
    return frozenset(names)


def _called(call: ast.Call) -> str:
    function = call.func
    return function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")


@functools.cache
def service_variables() -> frozenset[str]:
    settings = {"HDB_" + name.upper() for name in Settings.model_fields}
    return settings | connector_variables()


# ---- reading the files --------------------------------------------------------------------------


def yaml_documents(path: Path) -> list[Any]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document is not None]


def k8s_objects() -> list[dict[str, Any]]:
    return [
        document
        for path in sorted(K8S.glob("*.yaml"))
        for document in yaml_documents(path)
        if document.get("kind") != "Kustomization"
    ]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def dockerfile_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    values = {}
    for keyword, arguments in instructions:
        if keyword == "ENV":
            for word in shlex.split(arguments):
                name, _, value = word.partition("=")
                values[name] = value
    return values


def exec_form(arguments: str) -> list[str]:
    import json

    value = json.loads(arguments)
    assert isinstance(value, list), f"not exec form: {arguments}"
    return value


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (last match wins)."""
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[:count]) for count in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        bare = pattern.removeprefix("**/")
        candidates = prefixes + (
            [
                "/".join(parts[start:count])
                for start in range(len(parts))
                for count in range(start + 1, len(parts) + 1)
            ]
            if pattern.startswith("**/")
            else []
        )
        if any(
            fnmatch.fnmatchcase(candidate, bare if pattern.startswith("**/") else pattern)
            for candidate in candidates
        ):
            ignored = not negated
    return ignored


def dockerignore_patterns() -> list[str]:
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def script_problems(command: list[str], where: str) -> list[str]:
    """A ``python FILE ...`` command must run a file that is in the repository and the image."""
    if len(command) < 2 or command[0] != "python":
        return []
    script = command[1]
    if not (REPO / script).is_file():
        return [f"{where}: runs {script}, which is not in the repository"]
    if dockerignored(script, dockerignore_patterns()):
        return [f"{where}: runs {script}, which .dockerignore keeps out of the image"]
    return []


@functools.cache
def api_answers() -> dict[str, int]:
    """What the real API (built on a throwaway store, Temporal unreachable) answers on the
    health paths: a probe's path must not be a 404."""
    import tempfile

    from fastapi.testclient import TestClient

    from api.app import create_app
    from store.database import open_store

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite:///{folder}/store.db",
            secrets_dir=Path(folder) / "secrets",
            temporal_address="127.0.0.1:1",
        )
        engine = open_store(settings.database_url)
        with TestClient(create_app(settings, engine=engine)) as client:
            answers = {path: client.get(path).status_code for path in sorted(HEALTH_PATHS)}
        engine.dispose()
        return answers


def api_routes() -> set[str]:
    return {path for path, status in api_answers().items() if status != 404}


# ---- checks -------------------------------------------------------------------------------------


def variable_problems(names: set[str], where: str) -> list[str]:
    unknown = sorted(names - service_variables())
    return [f"{where} sets {name}, which the service does not read" for name in unknown]


def text_variable_problems(path: Path, text: str | None = None) -> list[str]:
    """Every HDB_* name anywhere in a deployment file, comments included."""
    text = path.read_text() if text is None else text
    return variable_problems(set(HDB_NAME.findall(text)), str(path.relative_to(REPO)))


def dockerfile_problems(text: str) -> list[str]:
    problems = []
    instructions = dockerfile_instructions(text)
    froms = [arguments for keyword, arguments in instructions if keyword == "FROM"]
    base = re.fullmatch(r"python:(\d+)\.(\d+)(\S*)", froms[-1].split()[0]) if froms else None
    if not base or (int(base[1]), int(base[2])) < (3, 11):
        problems.append(f"the image is not based on python 3.11+: FROM {froms}")
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the image runs as root (no USER, or USER root)")
    runs = " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    if not re.search(r"pip install (--\S+ )*\.(\s|$)", runs):
        problems.append("the package is not installed with `pip install .`")
    if re.search(r"\[dev\]|--editable|pip install -e", runs):
        problems.append("the image installs the dev extras or an editable install")
    healthchecks = [arguments for keyword, arguments in instructions if keyword == "HEALTHCHECK"]
    if not healthchecks or "CMD" not in healthchecks[-1]:
        problems.append("no HEALTHCHECK for the API")
    else:
        check = exec_form(healthchecks[-1].split("CMD", 1)[1].strip())
        problems += script_problems(check, "HEALTHCHECK")
        if check[1:3] != ["deploy/healthcheck.py", "api"]:
            problems.append(f"the HEALTHCHECK does not check the API: {check}")
    commands = [
        arguments for keyword, arguments in instructions if keyword in ("CMD", "ENTRYPOINT")
    ]
    if not commands:
        problems.append("no CMD or ENTRYPOINT")
    for arguments in commands:
        command = exec_form(arguments)
        problems += script_problems(command, "CMD")
    cmd = [exec_form(arguments) for keyword, arguments in instructions if keyword == "CMD"]
    if not cmd or cmd[-1] != WORKER_COMMAND:
        problems.append(f"the default command is not the worker {WORKER_COMMAND}")
    if any(keyword == "ENTRYPOINT" for keyword, _ in instructions):
        problems.append("an ENTRYPOINT would prefix `python starter.py serve` and other commands")
    environment = dockerfile_env(instructions)
    hdb = {name for name in environment if name.startswith("HDB_")}
    problems += variable_problems(hdb, "Dockerfile ENV")
    problems += [
        f"Dockerfile ENV sets the secret {name}"
        for name in environment
        if SECRET_NAME.search(name)
        and not PATH_NAME.search(name)
        and not environment[name].startswith("sqlite:")
    ]
    exposed = [arguments for keyword, arguments in instructions if keyword == "EXPOSE"]
    if environment.get("HDB_API_PORT") and exposed != [environment["HDB_API_PORT"]]:
        problems.append(f"EXPOSE {exposed} is not HDB_API_PORT {environment['HDB_API_PORT']}")
    for keyword, arguments in instructions:
        if keyword == "RUN":
            for used in re.findall(r"\b(examples/\S+)", arguments):
                if not (REPO / used).exists():
                    problems.append(f"RUN uses {used}, which is not in the repository")
    return problems


def compose_problems(compose: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    services = compose.get("services", {})
    for required in ("postgresql", "temporal", "temporal-ui", "worker", "api"):
        if required not in services:
            problems.append(f"compose has no service {required}")
    images = {name: str(service.get("image", "")) for name, service in services.items()}
    expected_images = {
        "postgresql": "postgres:15",
        "temporal": "temporalio/auto-setup:",
        "temporal-ui": "temporalio/ui:",
    }
    for name, prefix in expected_images.items():
        if name in images and not images[name].startswith(prefix):
            problems.append(f"compose {name} image {images[name]!r} is not {prefix}…")
    one_shots = {
        dependency
        for service in services.values()
        for dependency, condition in _depends_on(service).items()
        if condition == "service_completed_successfully"
    }
    for name, service in services.items():
        test = (service.get("healthcheck") or {}).get("test")
        if name not in one_shots and not test:
            problems.append(f"compose service {name} has no healthcheck")
        for dependency, condition in _depends_on(service).items():
            if dependency not in services:
                problems.append(f"compose {name} depends on {dependency}, which does not exist")
            elif condition not in (
                "service_healthy",
                "service_completed_successfully",
                "service_started",
            ):
                problems.append(f"compose {name} depends on {dependency} without a condition")
            elif condition == "service_healthy" and not services[dependency].get("healthcheck"):
                problems.append(f"compose {name} waits for {dependency}, which has no healthcheck")
        environment = _environment(service)
        ours = "build" in service
        if ours:
            build = service["build"]
            context = (COMPOSE.parent / build.get("context", ".")).resolve()
            if not (context / build.get("dockerfile", "Dockerfile")).is_file():
                problems.append(f"compose {name} builds from a Dockerfile that does not exist")
            hdb = {variable for variable in environment if variable.startswith("HDB_")}
            problems += variable_problems(hdb, f"compose {name} environment")
            if isinstance(test, list) and test[:1] == ["CMD"]:
                problems += script_problems(test[1:], f"compose {name} healthcheck")
            problems += script_problems(service.get("command") or [], f"compose {name}")
        for variable, value in environment.items():
            if (
                variable.startswith("HDB_")
                and SECRET_NAME.search(variable)
                and not (PATH_NAME.search(variable) or variable == "HDB_DATABASE_URL")
            ):
                problems.append(f"compose {name} puts the secret {variable} in its environment")
            literal_password = CREDENTIALS_IN_URL.search(str(value)) and not re.search(
                r"://[^@]*\$\{[A-Z_]+", str(value)
            )
            if variable.startswith("HDB_") and literal_password:
                problems.append(f"compose {name}: {variable} holds a literal password")
    for name in ("worker", "api"):
        problems += _our_service_problems(compose, name)
    if "api" in services and services["api"].get("command") != API_COMMAND:
        problems.append(f"compose api does not run {API_COMMAND}")
    if "worker" in services and services["worker"].get("command") != WORKER_COMMAND:
        problems.append(f"compose worker does not run {WORKER_COMMAND}")
    api_test = (services.get("api", {}).get("healthcheck") or {}).get("test") or []
    if "api" in services and "api" not in api_test:
        problems.append("compose api's healthcheck does not check the API")
    return problems


def _depends_on(service: dict[str, Any]) -> dict[str, str | None]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return dict.fromkeys(depends)
    return {name: (value or {}).get("condition") for name, value in depends.items()}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return {name: str(value) for name, value in environment.items()}


def _strip_interpolation(text: str) -> str:
    return re.sub(r"\$\{[^}]*\}", "x", text)


def _our_service_problems(compose: dict[str, Any], name: str) -> list[str]:
    services = compose.get("services", {})
    service = services.get(name)
    if service is None:
        return []
    problems = []
    environment = _environment(service)
    for required in (
        "HDB_TEMPORAL_ADDRESS",
        "HDB_DATABASE_URL",
        "HDB_BOOK_PATH",
        "HDB_SECRETS_DIR",
    ):
        if required not in environment:
            problems.append(f"compose {name} does not set {required}")
    address = environment.get("HDB_TEMPORAL_ADDRESS", "")
    if address.partition(":")[0] not in services:
        problems.append(f"compose {name}: HDB_TEMPORAL_ADDRESS {address!r} is no service")
    url = urlsplit(_strip_interpolation(environment.get("HDB_DATABASE_URL", "")))
    if url.scheme != "postgresql+psycopg" or url.hostname not in services:
        problems.append(f"compose {name}: HDB_DATABASE_URL is not postgresql+psycopg:// a service")
    book = PurePosixPath(environment.get("HDB_BOOK_PATH", "/"))
    volumes = compose.get("volumes") or {}
    mounts = [str(volume).split(":") for volume in service.get("volumes") or []]
    if not any(
        len(mount) >= 2 and mount[0] in volumes and book.parent == PurePosixPath(mount[1])
        for mount in mounts
    ):
        problems.append(f"compose {name}: HDB_BOOK_PATH's folder is not a mounted named volume")
    secrets = {
        secret if isinstance(secret, str) else secret.get("source")
        for secret in service.get("secrets") or []
    }
    declared = compose.get("secrets") or {}
    if environment.get("HDB_SECRETS_DIR") != "/run/secrets":
        problems.append(f"compose {name}: HDB_SECRETS_DIR is not /run/secrets, where secrets are")
    for secret in OUR_SECRET_FILES - secrets:
        problems.append(f"compose {name} does not mount the secret {secret}")
    for secret in secrets:
        if "file" not in (declared.get(secret) or {}):
            problems.append(f"compose secret {secret} is not declared from a file")
    return problems


def k8s_problems(objects: list[dict[str, Any]], routes: set[str]) -> list[str]:
    problems: list[str] = []
    for index, item in enumerate(objects):
        for key in ("apiVersion", "kind"):
            if not item.get(key):
                problems.append(f"k8s object {index} has no {key}")
        if not (item.get("metadata") or {}).get("name"):
            problems.append(f"k8s object {index} ({item.get('kind')}) has no metadata.name")
    if problems:
        return problems  # the checks below find objects by kind and name
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for item in objects:
        by_kind.setdefault(item.get("kind", ""), {})[item["metadata"].get("name", "")] = item
    namespaces = set(by_kind.get("Namespace", {}))
    if len(namespaces) != 1:
        problems.append(f"k8s: expected one Namespace, found {sorted(namespaces)}")
    for item in objects:
        if item.get("kind") != "Namespace" and item["metadata"].get("namespace") not in namespaces:
            problems.append(f"k8s {item.get('kind')} {item['metadata'].get('name')}: no namespace")
    config_maps = by_kind.get("ConfigMap", {})
    secrets = by_kind.get("Secret", {})
    settings: dict[str, str] = {}
    for name, config_map in config_maps.items():
        data = config_map.get("data") or {}
        variables = {key for key in data if key.startswith("HDB_")}
        problems += variable_problems(variables, f"ConfigMap {name}")
        settings.update({key: str(data[key]) for key in variables})
        for key, value in data.items():
            if SECRET_NAME.search(key) and not PATH_NAME.search(key):
                problems.append(f"ConfigMap {name} holds the secret {key}")
            if CREDENTIALS_IN_URL.search(str(value)):
                problems.append(f"ConfigMap {name}: {key} holds credentials")
    deployments = by_kind.get("Deployment", {})
    workloads = list(deployments.values()) + list(by_kind.get("Job", {}).values())
    kinds = {"worker": WORKER_COMMAND, "api": API_COMMAND}
    found = {
        role: [d for d in deployments.values() if _containers(d)[0].get("command") == command]
        for role, command in kinds.items()
    }
    for role, matches in found.items():
        if len(matches) != 1:
            problems.append(f"k8s: expected one {role} Deployment running {kinds[role]}")
        elif matches[0]["spec"].get("replicas") != 2:
            problems.append(f"k8s {role} Deployment does not run 2 replicas")
    for workload in workloads:
        name = workload["metadata"]["name"]
        spec = workload["spec"]["template"]["spec"]
        volumes = {volume["name"]: volume for volume in spec.get("volumes") or []}
        if workload["kind"] == "Deployment":
            labels = workload["spec"]["template"]["metadata"].get("labels") or {}
            selector = workload["spec"].get("selector", {}).get("matchLabels") or {}
            if not selector or any(labels.get(k) != v for k, v in selector.items()):
                problems.append(f"k8s {name}: the selector does not match the pod labels")
        for volume_name, volume in volumes.items():
            if "secret" in volume and volume["secret"].get("secretName") not in secrets:
                problems.append(f"k8s {name}: volume {volume_name} mounts an undefined Secret")
            if "configMap" in volume and volume["configMap"].get("name") not in config_maps:
                problems.append(f"k8s {name}: volume {volume_name} mounts an undefined ConfigMap")
        for container in _containers(workload):
            where = f"k8s {name}/{container.get('name')}"
            resources = container.get("resources") or {}
            for kind in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources.get(kind) or {}):
                    problems.append(f"{where} has no cpu and memory {kind}")
            if not container.get("image"):
                problems.append(f"{where} has no image")
            problems += script_problems(container.get("command") or [], where)
            for source in container.get("envFrom") or []:
                reference = (source.get("configMapRef") or {}).get("name")
                if reference is not None and reference not in config_maps:
                    problems.append(f"{where} takes its environment from an undefined ConfigMap")
            env_names = set()
            for variable in container.get("env") or []:
                env_names.add(variable["name"])
                if "value" in variable and (
                    SECRET_NAME.search(variable["name"]) and not PATH_NAME.search(variable["name"])
                ):
                    problems.append(f"{where} sets the secret {variable['name']} in plain text")
                key_ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
                if key_ref is not None:
                    secret = secrets.get(key_ref.get("name"))
                    keys = set((secret or {}).get("stringData") or {}) | set(
                        (secret or {}).get("data") or {}
                    )
                    if key_ref.get("key") not in keys:
                        problems.append(f"{where}: {variable['name']} refers to no Secret key")
            problems += variable_problems(
                {n for n in env_names if n.startswith("HDB_")}, f"{where} env"
            )
            mounts = {
                m["mountPath"]: volumes.get(m["name"]) for m in container.get("volumeMounts") or []
            }
            if container.get("command") in (WORKER_COMMAND, API_COMMAND):
                problems += _mount_problems(where, mounts, settings, secrets, config_maps)
                if "HDB_DATABASE_URL" not in env_names:
                    problems.append(f"{where} does not take HDB_DATABASE_URL from a Secret")
            if container.get("command") == API_COMMAND:
                problems += _probe_problems(where, container, routes)
            if container.get("command") == WORKER_COMMAND:
                probe = container.get("livenessProbe")
                if probe is not None and "exec" not in probe:
                    problems.append(f"{where}: a worker liveness probe can only be an exec")
    for name, service in by_kind.get("Service", {}).items():
        selector = service["spec"].get("selector") or {}
        targets = [
            d
            for d in deployments.values()
            if all(
                (d["spec"]["template"]["metadata"].get("labels") or {}).get(k) == v
                for k, v in selector.items()
            )
        ]
        if not selector or not targets:
            problems.append(f"k8s Service {name} selects no Deployment's pods")
        ports = {
            port.get("name")
            for d in targets
            for c in _containers(d)
            for port in c.get("ports") or []
        }
        for port in service["spec"].get("ports") or []:
            if isinstance(port.get("targetPort"), str) and port["targetPort"] not in ports:
                problems.append(f"k8s Service {name} targets no container port")
    return problems


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return workload["spec"]["template"]["spec"].get("containers") or [{}]


def _mount_problems(
    where: str,
    mounts: dict[str, dict[str, Any] | None],
    settings: dict[str, str],
    secrets: dict[str, dict[str, Any]],
    config_maps: dict[str, dict[str, Any]],
) -> list[str]:
    problems = []
    secrets_volume = mounts.get(settings.get("HDB_SECRETS_DIR", ""))
    if not secrets_volume or "secret" not in secrets_volume:
        problems.append(f"{where}: HDB_SECRETS_DIR is not a mounted Secret")
    else:
        secret = secrets.get(secrets_volume["secret"].get("secretName")) or {}
        keys = set(secret.get("stringData") or {}) | set(secret.get("data") or {})
        for missing in sorted(OUR_SECRET_FILES - keys):
            problems.append(f"{where}: the mounted Secret has no {missing}")
    book = PurePosixPath(settings.get("HDB_BOOK_PATH", "/"))
    book_volume = mounts.get(str(book.parent))
    if not book_volume or "configMap" not in book_volume:
        problems.append(f"{where}: HDB_BOOK_PATH's folder is not a mounted ConfigMap")
    else:
        data = (config_maps.get(book_volume["configMap"].get("name")) or {}).get("data") or {}
        if book.name not in data:
            problems.append(f"{where}: the book ConfigMap has no {book.name}")
        else:
            parse_book(data[book.name], source=f"{where} {book.name}")  # raises if invalid
    return problems


def _probe_problems(where: str, container: dict[str, Any], routes: set[str]) -> list[str]:
    problems = []
    ports = {port.get("name") for port in container.get("ports") or []} | {
        port.get("containerPort") for port in container.get("ports") or []
    }
    for probe_name, expected in (
        ("livenessProbe", "/health/live"),
        ("readinessProbe", "/health/ready"),
    ):
        probe = (container.get(probe_name) or {}).get("httpGet")
        if not probe:
            problems.append(f"{where} has no HTTP {probe_name}")
            continue
        if probe.get("path") != expected or probe["path"] not in routes:
            problems.append(f"{where}: {probe_name} is not GET {expected} (served by the API)")
        if probe.get("port") not in ports:
            problems.append(f"{where}: {probe_name} probes a port the container does not open")
    return problems


# ---- Worker Versioning: each worker slot runs the build its image tag names ---------------------

BUILD_ID = "HDB_WORKER_BUILD_ID"
SLOT_FIELDS = "the name, the labels, the image tag and HDB_WORKER_BUILD_ID"


def split_image(image: str) -> tuple[str, str | None]:
    """``registry:5000/name:tag`` → (``registry:5000/name``, ``tag``): a port is not a tag."""
    head, _, last = image.rpartition("/")
    name, colon, tag = last.partition("@")[0].partition(":")
    return (f"{head}/{name}" if head else name), (tag if colon and "@" not in last else None)


def kustomized_image(image: str, kustomization: dict[str, Any]) -> str:
    """``image`` as the kustomization's ``images:`` rewrites it (new name, tag or digest)."""
    name, tag = split_image(image)
    for entry in kustomization.get("images") or []:
        if entry.get("name") == name:
            new_name = entry.get("newName", name)
            if entry.get("digest"):
                return f"{new_name}@{entry['digest']}"
            return f"{new_name}:{entry.get('newTag', tag)}"
    return image


def worker_deployment(objects: list[dict[str, Any]]) -> dict[str, Any] | None:
    found = [
        item
        for item in objects
        if item.get("kind") == "Deployment"
        and _containers(item)[0].get("command") == WORKER_COMMAND
    ]
    return found[0] if len(found) == 1 else None


def build_id_problems(deployment: dict[str, Any], kustomization: dict[str, Any]) -> list[str]:
    """The worker's HDB_WORKER_BUILD_ID is the tag of the image it runs, once kustomized: the
    image tag names the code, the build id tells Temporal which code it is."""
    where = f"k8s {deployment['metadata']['name']}"
    container = _containers(deployment)[0]
    values = [v.get("value") for v in container.get("env") or [] if v.get("name") == BUILD_ID]
    if not values or not isinstance(values[0], str):
        return [f"{where} does not set {BUILD_ID} to a literal value beside its image"]
    build_id = values[0]
    problems = []
    try:
        Settings(worker_build_id=build_id)
    except ValidationError:
        problems.append(f"{where}: {BUILD_ID} {build_id!r} is not a valid build id")
    image = kustomized_image(container.get("image", ""), kustomization)
    tag = split_image(image)[1]
    if tag != build_id:
        problems.append(
            f"{where}: {BUILD_ID} {build_id!r} is not the tag of its image {image}: "
            "change the two together"
        )
    return problems


def _slot_shape(deployment: dict[str, Any]) -> dict[str, Any]:
    """The Deployment with what may differ between the slots blanked out."""
    shape = copy.deepcopy(deployment)
    shape["metadata"]["name"] = "SLOT"
    for labels in (
        shape["metadata"].get("labels") or {},
        shape["spec"]["selector"].get("matchLabels") or {},
        shape["spec"]["template"]["metadata"].get("labels") or {},
    ):
        if "app.kubernetes.io/name" in labels:
            labels["app.kubernetes.io/name"] = "SLOT"
    for container in _containers(shape):
        container["image"] = split_image(container.get("image", ""))[0]
        for variable in container.get("env") or []:
            if variable.get("name") == BUILD_ID:
                variable["value"] = "BUILD"
    return shape


def blue_green_problems(
    base: list[dict[str, Any]],
    base_kustomization: dict[str, Any],
    green: list[dict[str, Any]],
    green_kustomization: dict[str, Any],
) -> list[str]:
    """Both worker slots run the build their image tags name; the green one is the blue one under
    another name (so it runs alike and their pods never mix); the build id is per slot, never in
    the ConfigMap both share."""
    blue_worker, green_worker = worker_deployment(base), worker_deployment(green)
    if blue_worker is None or green_worker is None:
        return ["k8s: expected one worker Deployment in deploy/k8s and one in blue-green/"]
    problems = build_id_problems(blue_worker, base_kustomization)
    problems += build_id_problems(green_worker, green_kustomization)
    if _slot_shape(green_worker) != _slot_shape(blue_worker):
        problems.append(
            f"k8s: the green worker differs from the blue one in more than {SLOT_FIELDS}"
        )
    blue_pods = blue_worker["spec"]["selector"].get("matchLabels") or {}
    green_pods = green_worker["spec"]["selector"].get("matchLabels") or {}
    if (
        blue_pods == green_pods
        or blue_worker["metadata"]["name"] == green_worker["metadata"]["name"]
    ):
        problems.append("k8s: the green worker's name or pod selector is the blue one's")
    for item in base:
        if item.get("kind") == "ConfigMap" and BUILD_ID in (item.get("data") or {}):
            problems.append(f"ConfigMap {item['metadata']['name']} sets {BUILD_ID}: per slot")
    if green_kustomization.get("namespace") != base_kustomization.get("namespace"):
        problems.append("k8s: the green slot is not in the base's namespace")
    return problems


# ---- tests: the real files -----------------------------------------------------------------------


def test_every_yaml_file_parses() -> None:
    paths = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert COMPOSE in paths and len(paths) >= 7
    for path in paths:
        assert yaml_documents(path), f"{path} is empty"


def test_the_variable_scan_finds_connector_variables() -> None:
    found = connector_variables()
    # prefix + suffix, read_secret, plain literals: each way a connector names a variable
    assert {
        "HDB_DJANGO_HELPDESK_URL",
        "HDB_DJANGO_HELPDESK_TOKEN_FILE",
        "HDB_TRYTON_PASSWORD",
        "HDB_ZENDESK_API_TOKEN",
        "HDB_ZENDESK_SUBDOMAIN",
        "HDB_QBO_REALM_ID",
        "HDB_QBO_REFRESH_TOKEN",
    } <= found
    assert "HDB_DJANGO_HELPDESK_" not in found


def test_dockerfile() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


def test_the_serve_command_exists() -> None:
    for command in (API_COMMAND, WORKER_COMMAND):
        assert (REPO / command[1]).is_file()
    answer = subprocess.run(
        [sys.executable, "starter.py", "serve", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 0, answer.stderr
    assert "--host" in answer.stdout


def test_compose() -> None:
    assert compose_problems(yaml_documents(COMPOSE)[0]) == []


def test_the_temporal_web_ui_only_reads_in_compose_and_k8s() -> None:
    """Issue 14: the UI server's write actions (signal, terminate, reset, ...) are off wherever
    we deploy it: compose's temporal-ui service, and the values for Temporal's Helm chart."""
    ui = yaml_documents(COMPOSE)[0]["services"]["temporal-ui"]["environment"]
    assert ui["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    values = yaml_documents(K8S / "temporal" / "helm-values.yaml")[0]
    web = {item["name"]: item["value"] for item in values["web"]["additionalEnv"]}
    assert web["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    assert web["TEMPORAL_CODEC_ENDPOINT"].endswith("/codec")


def test_k8s() -> None:
    assert k8s_problems(k8s_objects(), api_routes()) == []


def test_the_api_serves_the_probed_health_endpoints() -> None:
    # live: always 200; ready: 503 here, since Temporal is unreachable
    assert api_answers() == {"/health/live": 200, "/health/ready": 503}


def test_every_hdb_name_in_the_deployment_files_is_read_by_the_service() -> None:
    paths = [DOCKERFILE, *sorted(DEPLOY.rglob("*.yaml")), *sorted(DEPLOY.rglob("*.sh"))]
    problems = [problem for path in paths for problem in text_variable_problems(path)]
    assert problems == []


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml_documents(K8S / "kustomization.yaml")[0]
    manifests = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests - {"secrets.example.yaml"}


def green_objects() -> list[dict[str, Any]]:
    return [
        document
        for path in sorted(GREEN.glob("*.yaml"))
        for document in yaml_documents(path)
        if document.get("kind") != "Kustomization"
    ]


def test_each_worker_slot_runs_the_build_its_image_tag_names() -> None:
    base = yaml_documents(K8S / "kustomization.yaml")[0]
    green = yaml_documents(GREEN / "kustomization.yaml")[0]
    assert blue_green_problems(k8s_objects(), base, green_objects(), green) == []
    assert set(green["resources"]) == {path.name for path in GREEN.glob("*.yaml")} - {
        "kustomization.yaml"
    }


def test_the_green_worker_passes_every_check_the_blue_one_does() -> None:
    green = worker_deployment(green_objects())
    assert green is not None
    with_green = [item for item in k8s_objects() if item["metadata"]["name"] != WORKER] + [green]
    assert k8s_problems(with_green, api_routes()) == []


def test_the_image_holds_what_it_runs_and_nothing_local() -> None:
    patterns = dockerignore_patterns()
    for kept in (
        "worker.py",
        "starter.py",
        "settings/__init__.py",
        "pyproject.toml",
        "README.md",
        "examples/book.toml",
        "api/templates/ticket.html",
        "deploy/healthcheck.py",
    ):
        assert not dockerignored(kept, patterns), kept
    for left_out in (
        ".venv/bin/python",
        ".data/secrets/signing_key",
        ".git/HEAD",
        "deploy/secrets/webhook_secret",
        "api/__pycache__/app.cpython-311.pyc",
    ):
        assert dockerignored(left_out, patterns), left_out


def test_pyproject_dependencies_are_what_the_image_installs() -> None:
    # The Dockerfile installs [project] dependencies first (from pyproject.toml), then the package.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "psycopg[binary]>=3.2" in project["dependencies"]  # the PostgreSQL store driver
    # /api/docs serves Swagger UI from this package: the image must have it (not a dev extra).
    assert any(d.startswith("fastapi-swagger") for d in project["dependencies"])
    assert "tomllib" in DOCKERFILE.read_text() and "['dependencies']" in DOCKERFILE.read_text()


# ---- tests: each check catches what it is for ----------------------------------------------------


def _dockerfile_broken(old: str, new: str) -> list[str]:
    text = DOCKERFILE.read_text()
    assert old in text, old
    return dockerfile_problems(text.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("FROM python:3.11-slim", "FROM python:3.10-slim", "python 3.11+"),
        ("USER hdb:hdb", "USER root", "runs as root"),
        ("RUN pip install --no-deps .", "RUN pip install --no-deps '.[dev]'", "pip install"),
        ('CMD ["python", "worker.py"]', 'CMD ["python", "workers.py"]', "not in the repository"),
        ("HDB_API_HOST=0.0.0.0", "HDB_API_HOSTNAME=0.0.0.0", "does not read"),
        ('CMD ["python", "deploy/healthcheck.py", "api"]', 'CMD ["true"]', "does not check"),
        ("EXPOSE 8000", "EXPOSE 8080", "EXPOSE"),
    ],
)
def test_the_dockerfile_check_fails_on_a_broken_dockerfile(
    old: str, new: str, problem: str
) -> None:
    assert any(problem in found for found in _dockerfile_broken(old, new))


def _compose_broken(change) -> list[str]:  # type: ignore[no-untyped-def]
    compose = copy.deepcopy(yaml_documents(COMPOSE)[0])
    change(compose)
    return compose_problems(compose)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c["services"].pop("temporal-ui"), "no service temporal-ui"),
        (lambda c: c["services"]["temporal"].pop("healthcheck"), "has no healthcheck"),
        (lambda c: c["services"]["api"].pop("healthcheck"), "api has no healthcheck"),
        (
            lambda c: c["services"]["worker"].update(depends_on=["temporal"]),
            "without a condition",
        ),
        (
            lambda c: c["services"]["worker"]["environment"].update(HDB_TEMPORAL_ADRESS="x:1"),
            "does not read",
        ),
        (
            lambda c: c["services"]["api"]["environment"].update(HDB_SIGNING_KEY="abc"),
            "puts the secret",
        ),
        (
            lambda c: c["services"]["api"]["environment"].update(
                HDB_DATABASE_URL="postgresql+psycopg://u:hunter2@postgresql/db"
            ),
            "literal password",
        ),
        (
            lambda c: c["services"]["worker"]["environment"].update(
                HDB_DATABASE_URL="sqlite:////tmp/x.db"
            ),
            "postgresql+psycopg",
        ),
        (lambda c: c["services"]["api"].update(secrets=["webhook_secret"]), "signing_key"),
        (lambda c: c["services"]["api"].update(volumes=[]), "HDB_BOOK_PATH"),
        (
            lambda c: c["services"]["api"].update(command=["python", "starter.py", "serv"]),
            "does not run",
        ),
        (
            lambda c: c["services"]["temporal-setup"].update(command=["python", "deploy/x.py"]),
            "not in the repository",
        ),
        (
            lambda c: c["services"]["temporal-ui"].update(image="temporalio/web:1.15.0"),
            "temporalio/ui",
        ),
    ],
)
def test_the_compose_check_fails_on_a_broken_compose_file(change, problem: str) -> None:  # type: ignore[no-untyped-def]
    problems = _compose_broken(change)
    assert any(problem in found for found in problems), problems


def _k8s_broken(kind: str, name: str, change) -> list[str]:  # type: ignore[no-untyped-def]
    objects = copy.deepcopy(k8s_objects())
    target = next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)
    change(target)
    return k8s_problems(objects, api_routes())


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


API = "helpdesk-billing-api"
WORKER = "helpdesk-billing-worker"


@pytest.mark.parametrize(
    ("kind", "name", "change", "problem"),
    [
        ("Deployment", API, lambda d: d["metadata"].pop("name"), "no metadata.name"),
        ("Deployment", API, lambda d: d.pop("apiVersion"), "no apiVersion"),
        ("Deployment", WORKER, lambda d: _container(d)["resources"].pop("requests"), "requests"),
        ("Deployment", WORKER, lambda d: d["spec"].update(replicas=1), "2 replicas"),
        ("Deployment", API, lambda d: _container(d).pop("readinessProbe"), "readinessProbe"),
        (
            "Deployment",
            API,
            lambda d: _container(d)["livenessProbe"]["httpGet"].update(path="/healthz"),
            "livenessProbe is not GET /health/live",
        ),
        (
            "Deployment",
            WORKER,
            lambda d: _container(d).update(livenessProbe={"httpGet": {"path": "/", "port": 1}}),
            "exec",
        ),
        (
            "Deployment",
            WORKER,
            lambda d: d["spec"]["template"]["spec"]["volumes"][0]["secret"].update(
                secretName="nope"
            ),
            "undefined Secret",
        ),
        (
            "Deployment",
            API,
            lambda d: _container(d)["env"][0].update(value="postgresql://u:p@h/db", valueFrom=None),
            "plain text",
        ),
        (
            "ConfigMap",
            "helpdesk-billing-config",
            lambda c: c["data"].update(HDB_SIGNING_KEY="k"),
            "holds the secret",
        ),
        (
            "ConfigMap",
            "helpdesk-billing-config",
            lambda c: c["data"].update(HDB_NOPE="1"),
            "does not read",
        ),
        (
            "ConfigMap",
            "helpdesk-billing-config",
            lambda c: c["data"].update(HDB_SECRETS_DIR="/somewhere/else"),
            "HDB_SECRETS_DIR is not a mounted Secret",
        ),
        (
            "Secret",
            "helpdesk-billing-secrets",
            lambda s: s["stringData"].pop("signing_key"),
            "no signing_key",
        ),
        ("Service", API, lambda s: s["spec"].update(selector={"app": "other"}), "selects no"),
        (
            "Job",
            "helpdesk-billing-temporal-setup",
            lambda j: _container(j).update(command=["python", "deploy/nothing.py"]),
            "not in the repository",
        ),
    ],
)
def test_the_k8s_check_fails_on_broken_manifests(kind, name, change, problem) -> None:  # type: ignore[no-untyped-def]
    problems = _k8s_broken(kind, name, change)
    assert any(problem in found for found in problems), problems


def test_the_text_scan_fails_on_an_unknown_variable() -> None:
    text = COMPOSE.read_text().replace("HDB_INSTANCE_ID", "HDB_INSTANCE_NAME")
    assert text_variable_problems(COMPOSE, text) == [
        "deploy/compose.yaml sets HDB_INSTANCE_NAME, which the service does not read"
    ]


def test_the_book_in_the_manifests_must_be_a_valid_book() -> None:
    from billing.book import BookError

    with pytest.raises(BookError):
        _k8s_broken(
            "ConfigMap",
            "helpdesk-billing-book",
            lambda c: c["data"].update({"book.toml": "[[contracts]]\nid = 1\n"}),
        )


def _blue_green_broken(change) -> list[str]:  # type: ignore[no-untyped-def]
    slots = {
        "base": copy.deepcopy(k8s_objects()),
        "base_kustomization": copy.deepcopy(yaml_documents(K8S / "kustomization.yaml")[0]),
        "green": copy.deepcopy(green_objects()),
        "green_kustomization": copy.deepcopy(yaml_documents(GREEN / "kustomization.yaml")[0]),
    }
    change(slots)
    return blue_green_problems(**slots)


def _worker(objects: list[dict[str, Any]]) -> dict[str, Any]:
    found = worker_deployment(objects)
    assert found is not None
    return found


def _build_id(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(v for v in _container(_worker(objects))["env"] if v["name"] == BUILD_ID)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        # a new tag without the new build id, on either slot
        (lambda s: s["base_kustomization"]["images"][0].update(newTag="0.1.1"), "not the tag"),
        (lambda s: s["green_kustomization"]["images"][0].update(newTag="0.3.0"), "not the tag"),
        (lambda s: _build_id(s["green"]).update(value="0.1.0"), "not the tag"),
        (lambda s: _container(_worker(s["base"]))["env"].remove(_build_id(s["base"])), "not set"),
        (lambda s: _build_id(s["base"]).update(value="0.1.0 "), "not a valid build id"),
        (
            lambda s: _container(_worker(s["green"])).update(
                image="registry.example.com:5000/helpdesk-billing"
            ),
            "not the tag",
        ),
        (lambda s: _worker(s["green"])["spec"].update(replicas=3), "differs from the blue"),
        (
            lambda s: _container(_worker(s["green"]))["resources"]["limits"].update(memory="2Gi"),
            "differs from the blue",
        ),
        (
            lambda s: _worker(s["green"]).update(metadata=_worker(s["base"])["metadata"]),
            "name or pod selector",
        ),
        (
            lambda s: next(o for o in s["base"] if o["kind"] == "ConfigMap")["data"].update(
                {BUILD_ID: "0.1.0"}
            ),
            "per slot",
        ),
        (lambda s: s["green_kustomization"].update(namespace="other"), "namespace"),
    ],
)
def test_the_blue_green_check_fails_on_broken_slots(change, problem: str) -> None:  # type: ignore[no-untyped-def]
    problems = _blue_green_broken(change)
    assert any(problem in found for found in problems), problems


@pytest.mark.parametrize(
    ("image", "kustomization", "expected"),
    [
        ("helpdesk-billing:0.1.0", {}, "helpdesk-billing:0.1.0"),
        (
            "helpdesk-billing:0.1.0",
            {"images": [{"name": "helpdesk-billing", "newTag": "0.2.0"}]},
            "helpdesk-billing:0.2.0",
        ),
        (
            "helpdesk-billing:0.1.0",
            {"images": [{"name": "helpdesk-billing", "newName": "reg.example.com:5000/hdb"}]},
            "reg.example.com:5000/hdb:0.1.0",
        ),
        ("other:1", {"images": [{"name": "helpdesk-billing", "newTag": "9"}]}, "other:1"),
    ],
)
def test_kustomized_image_follows_kustomize(
    image: str, kustomization: dict[str, Any], expected: str
) -> None:
    assert kustomized_image(image, kustomization) == expected
    assert split_image("reg.example.com:5000/hdb:0.1.0") == ("reg.example.com:5000/hdb", "0.1.0")
    assert split_image("reg.example.com:5000/hdb") == ("reg.example.com:5000/hdb", None)
