"""Worker Versioning's configuration, without a server (the rollout itself is
tests/live/test_worker_versioning.py): the two settings and their errors, the worker's deployment
config, and which workflow classes a worker registers with each behaviour."""

from __future__ import annotations

import pytest
from temporalio import workflow
from temporalio.common import VersioningBehavior

from runtime.worker_parts import WORKFLOWS, worker_deployment_config, workflows_for
from settings import Settings, SettingsError
from workflows.versioned import VERSIONED_WORKFLOWS

# Long-lived types move to each new build; the short runs end on the build they started on.
BEHAVIOUR = {
    "TicketBillingWorkflow": VersioningBehavior.AUTO_UPGRADE,
    "PrepaidBalanceWorkflow": VersioningBehavior.AUTO_UPGRADE,
    "ReconciliationWorkflow": VersioningBehavior.PINNED,
    "MonthlyInvoiceRunWorkflow": VersioningBehavior.PINNED,
    "SyncHealthWorkflow": VersioningBehavior.PINNED,
    "HelpdeskSyncWorkflow": VersioningBehavior.PINNED,
    # Always running (continued as new every 200 rounds): it moves to each new build.
    "NotifierWorkflow": VersioningBehavior.AUTO_UPGRADE,
}


def definition(cls: type) -> workflow._Definition:
    return workflow._Definition.must_from_class(cls)


def test_unset_the_worker_is_unversioned_as_before() -> None:
    settings = Settings.from_environment({})
    assert settings.worker_build_id is None
    assert settings.worker_deployment_name == "helpdesk-billing"
    assert worker_deployment_config(settings) is None
    assert workflows_for(settings) is WORKFLOWS


def test_a_build_id_turns_worker_versioning_on() -> None:
    settings = Settings.from_environment(
        {"HDB_WORKER_BUILD_ID": "0.2.0", "HDB_WORKER_DEPLOYMENT_NAME": "billing-eu"}
    )
    config = worker_deployment_config(settings)
    assert config is not None
    assert (config.version.deployment_name, config.version.build_id) == ("billing-eu", "0.2.0")
    assert config.use_worker_versioning
    # Each type declares its own behaviour; the SDK refuses a versioned worker with one that
    # does not (temporalio/worker/_workflow.py), rather than this default guessing.
    assert config.default_versioning_behavior == VersioningBehavior.UNSPECIFIED
    assert workflows_for(settings) is VERSIONED_WORKFLOWS


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        ({"HDB_WORKER_BUILD_ID": ""}, "HDB_WORKER_BUILD_ID: is empty"),
        ({"HDB_WORKER_BUILD_ID": "  "}, "HDB_WORKER_BUILD_ID: is empty"),
        ({"HDB_WORKER_BUILD_ID": "0.2.0\n"}, "HDB_WORKER_BUILD_ID: contains whitespace"),
        ({"HDB_WORKER_BUILD_ID": "0.2 .0"}, "HDB_WORKER_BUILD_ID: contains whitespace"),
        ({"HDB_WORKER_BUILD_ID": "x" * 256}, "HDB_WORKER_BUILD_ID: is longer than 255 bytes"),
        ({"HDB_WORKER_BUILD_ID": "__0.2.0"}, "HDB_WORKER_BUILD_ID: starts with '__'"),
        ({"HDB_WORKER_DEPLOYMENT_NAME": ""}, "HDB_WORKER_DEPLOYMENT_NAME: is empty"),
        ({"HDB_WORKER_DEPLOYMENT_NAME": "billing.eu"}, "HDB_WORKER_DEPLOYMENT_NAME: contains '.'"),
        ({"HDB_WORKER_DEPLOYMENT_NAME": "billing:eu"}, "HDB_WORKER_DEPLOYMENT_NAME: contains '.'"),
    ],
)
def test_a_bad_build_id_or_deployment_name_names_the_variable(
    environment: dict[str, str], problem: str
) -> None:
    with pytest.raises(SettingsError, match=problem):
        Settings.from_environment(environment)


def test_a_build_id_of_255_bytes_or_with_dots_is_fine() -> None:
    assert Settings(worker_build_id="x" * 255).worker_build_id == "x" * 255
    assert Settings(worker_build_id="registry-2026.12.03-abc").worker_build_id is not None


def test_every_workflow_has_a_versioned_twin_with_its_behaviour() -> None:
    plain = {definition(cls).name: cls for cls in WORKFLOWS}
    twins = {definition(cls).name: cls for cls in VERSIONED_WORKFLOWS}
    assert twins.keys() == plain.keys() == BEHAVIOUR.keys()
    for name, twin in twins.items():
        assert issubclass(twin, plain[name]), name  # the same code, only the behaviour added
        assert definition(twin).versioning_behavior == BEHAVIOUR[name], name
        # Temporal refuses a behaviour sent by an unversioned worker: the plain class has none.
        assert definition(plain[name]).versioning_behavior in (None, VersioningBehavior.UNSPECIFIED)
        # Same signals, queries and updates, so the twin answers everything the class does.
        assert definition(twin).signals.keys() == definition(plain[name]).signals.keys()
        assert definition(twin).queries.keys() == definition(plain[name]).queries.keys()
        assert definition(twin).updates.keys() == definition(plain[name]).updates.keys()
