"""Finding runtimes: the ``brahmi.executors`` entry-point group (DESIGN §6).

Built-in runtimes register through the same entry points as third-party ones (STYLE:
"plug-ins where built-ins register like third-party ones"); tests may add instances
directly with :meth:`RuntimeRegistry.register`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from brahmi import errors
from brahmi.agents.base import AgentRuntime

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "brahmi.executors"
#: The built-ins, also found when Brahmi runs from a source tree without its metadata. A
#: plug-in installed under one of these names does not replace it.
BUILTINS = {
    "noop": "brahmi.agents.noop:NoopRuntime",
    "command": "brahmi.agents.command:CommandRuntime",
    "claude-code": "brahmi.agents.claude_code:ClaudeCodeRuntime",
}


class RuntimeRegistry:
    """The runtimes available to a worker, by name, created on first use."""

    def __init__(self) -> None:
        self._instances: dict[str, AgentRuntime] = {}
        self._found: dict[str, EntryPoint] | None = None

    @property
    def _entry_points(self) -> dict[str, EntryPoint]:
        """The built-ins and every installed plug-in, looked up on first use: reading the
        installed packages' metadata costs tens of milliseconds, which a command that
        only uses a built-in runtime (``brahmi run --executor noop``) does not pay."""
        if self._found is None:
            from importlib.metadata import EntryPoint, entry_points

            found = {ep.name: ep for ep in entry_points(group=GROUP)}
            # A built-in's name is always the built-in (whether or not the metadata was read
            # first, see _loader): a plug-in takes a name of its own.
            found.update({name: EntryPoint(name, value, GROUP) for name, value in BUILTINS.items()})
            self._found = found
        return self._found

    def _loader(self, name: str) -> tuple[str, Callable[[], Any]] | None:
        """``module:attribute`` of the runtime ``name`` and what loads its class; a
        built-in's without reading the metadata while no one asked for the others."""
        if self._found is None and name in BUILTINS:
            module, _, attribute = BUILTINS[name].partition(":")
            return BUILTINS[name], lambda: getattr(importlib.import_module(module), attribute)
        ep = self._entry_points.get(name)
        return None if ep is None else (ep.value, ep.load)

    def register(self, runtime: AgentRuntime, name: str | None = None) -> None:
        """Make ``runtime`` available under ``name`` (default: its ``name``)."""
        self._instances[name or runtime.name] = runtime

    def names(self) -> list[str]:
        """Every runtime name known, registered or installed."""
        return sorted(set(self._instances) | set(self._entry_points))

    def get(self, name: str) -> AgentRuntime:
        """The runtime called ``name``.

        Raises:
            ExecutorNotFound: When no runtime has that name, or its plug-in fails to load.
        """
        if name in self._instances:
            return self._instances[name]
        found = self._loader(name)
        if found is None:
            known = ", ".join(self.names()) or "none"
            raise errors.ExecutorNotFound(
                f"no agent runtime is called {name!r} (installed: {known})", executor=name
            )
        target, load = found
        try:
            runtime = load()()
        except Exception as exc:
            raise errors.ExecutorNotFound(
                f"the agent runtime {name!r} failed to load: {exc}", executor=name
            ) from exc
        if not isinstance(runtime, AgentRuntime):
            raise errors.ExecutorNotFound(f"{target} is not an AgentRuntime", executor=name)
        self._instances[name] = runtime
        return runtime
