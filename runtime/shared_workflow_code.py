"""Compile the workflow modules once per worker, and let every sandboxed run share that code.

Temporal's sandbox imports a workflow's module afresh for every workflow run, so that no run sees
another's module state. A plain import unmarshals the module's ``__pycache__`` file into new code
objects each time (or compiles the source, when bytecode cannot be written: containers commonly
set ``PYTHONDONTWRITEBYTECODE``), and each run keeps its copy for as long as it stays in the
worker's workflow cache. For workflows/ticket_billing.py that was about 95 KiB and 2 ms per run:
with bench/live.py's 1,000 open tickets, 95 MiB of the worker's memory were identical copies.

Code objects are immutable, so one copy serves every run: a finder first on ``sys.meta_path``
hands the sandbox's import a loader whose code was compiled when the worker started. Each run
still executes the module's body afresh, into a module of its own, with the sandbox's restricted
builtins and imports, so its isolation and its determinism checks are what they were. And every
run executes the code the worker registered and validated at start, even if the file changes
on disk while the worker runs.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import CodeType, ModuleType


@dataclass(frozen=True, slots=True)
class _CompiledModule:
    origin: str
    code: CodeType
    package_paths: list[str] | None  # a package's __path__; None for a plain module


class _SharedCodeLoader(importlib.machinery.SourceFileLoader):
    """Python's own source loader (module attributes, ``__file__``, ``__cached__`` as usual),
    except that its code is the copy compiled once."""

    def __init__(self, fullname: str, path: str, code: CodeType) -> None:
        super().__init__(fullname, path)
        self._code = code

    def get_code(self, fullname: str) -> CodeType:
        return self._code


class SharedWorkflowCode(importlib.abc.MetaPathFinder):
    """Finds the registered modules (and only those) with a loader of their compiled code."""

    def __init__(self) -> None:
        self._modules: dict[str, _CompiledModule] = {}

    def register(self, module: ModuleType) -> bool:
        """Compile ``module``'s code once; False for a module that has no source loader (a
        namespace package, a built-in), which the sandbox then imports as before."""
        spec = module.__spec__
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return False
        if module.__name__ not in self._modules:
            code = spec.loader.get_code(module.__name__)
            if code is None or spec.origin is None:
                return False
            paths = spec.submodule_search_locations
            self._modules[module.__name__] = _CompiledModule(
                spec.origin, code, list(paths) if paths is not None else None
            )
        return True

    def shared_modules(self) -> list[str]:
        return sorted(self._modules)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        compiled = self._modules.get(fullname)
        if compiled is None:
            return None
        # A new spec per import: runs import on several threads at once, and the import system
        # marks a spec while its module initializes.
        return importlib.util.spec_from_file_location(
            fullname,
            compiled.origin,
            loader=_SharedCodeLoader(fullname, compiled.origin, compiled.code),
            submodule_search_locations=compiled.package_paths,
        )


def share_workflow_code(workflows: Iterable[type]) -> list[str]:
    """Compile each workflow class's module and its packages once, for every run to share.

    Installs the process's one finder at the front of ``sys.meta_path`` the first time; calling
    it again adds modules. Returns the names of the modules shared so far."""
    finder = next((f for f in sys.meta_path if isinstance(f, SharedWorkflowCode)), None)
    if finder is None:
        finder = SharedWorkflowCode()
        sys.meta_path.insert(0, finder)
    for name in _modules_the_sandbox_reimports(workflows):
        module = sys.modules.get(name)
        if module is not None:
            finder.register(module)
    return finder.shared_modules()


def _modules_the_sandbox_reimports(workflows: Iterable[type]) -> list[str]:
    names: list[str] = []
    for workflow_class in workflows:
        parts = workflow_class.__module__.split(".")
        for depth in range(1, len(parts) + 1):  # the packages are imported first
            name = ".".join(parts[:depth])
            if name not in names:
                names.append(name)
    return names
