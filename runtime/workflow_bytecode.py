"""Keep compiled bytecode beside the workflow modules, for the sandbox's sake.

Temporal's sandbox imports a workflow's module afresh for every workflow run. Python reads that
module from ``__pycache__`` when it can, and compiles the source when it cannot: containers
commonly set ``PYTHONDONTWRITEBYTECODE``, and then every ticket's run compiled
``workflows/ticket_billing.py`` again (about 4 ms each; measured with py-spy under
bench/live.py). Writing the bytecode once when the worker starts makes every later import a read.
"""

from __future__ import annotations

import importlib.util
import logging
import py_compile
import sys
from collections.abc import Iterable

log = logging.getLogger(__name__)


def cache_workflow_bytecode(workflows: Iterable[type]) -> list[str]:
    """Compile each workflow class's module (and its packages) into ``__pycache__``.

    Returns the source files compiled. A read-only install is fine: the sandbox then compiles
    as before, only slower, and the log says so once."""
    compiled: list[str] = []
    for module_name in _modules_the_sandbox_reimports(workflows):
        module = sys.modules.get(module_name)
        source = getattr(module, "__file__", None)
        if not source or not source.endswith(".py"):
            continue
        try:
            py_compile.compile(source, cfile=importlib.util.cache_from_source(source), doraise=True)
        except (OSError, py_compile.PyCompileError) as error:
            log.info("workflow bytecode not cached for %s (%s): runs compile it", source, error)
            continue
        compiled.append(source)
    return compiled


def _modules_the_sandbox_reimports(workflows: Iterable[type]) -> list[str]:
    names: list[str] = []
    for workflow_class in workflows:
        parts = workflow_class.__module__.split(".")
        for depth in range(1, len(parts) + 1):  # the packages are imported first
            name = ".".join(parts[:depth])
            if name not in names:
                names.append(name)
    return names
