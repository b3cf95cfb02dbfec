"""Finding runtimes: the ``brahmi.executors`` entry-point group (DESIGN §6).

Built-in runtimes register through the same entry points as third-party ones (STYLE:
"plug-ins where built-ins register like third-party ones"); tests may add instances
directly with :meth:`RuntimeRegistry.register`.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from brahmi import errors
from brahmi.agents.base import AgentRuntime

GROUP = "brahmi.executors"
#: The built-ins, also found when Brahmi runs from a source tree without its metadata.
BUILTINS = {
    "noop": "brahmi.agents.noop:NoopRuntime",
    "command": "brahmi.agents.command:CommandRuntime",
    "claude-code": "brahmi.agents.claude_code:ClaudeCodeRuntime",
}


class RuntimeRegistry:
    """The runtimes available to a worker, by name, created on first use."""

    def __init__(self) -> None:
        self._instances: dict[str, AgentRuntime] = {}
        self._entry_points = {
            name: EntryPoint(name, value, GROUP) for name, value in BUILTINS.items()
        }
        self._entry_points.update({ep.name: ep for ep in entry_points(group=GROUP)})

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
        ep = self._entry_points.get(name)
        if ep is None:
            known = ", ".join(self.names()) or "none"
            raise errors.ExecutorNotFound(
                f"no agent runtime is called {name!r} (installed: {known})", executor=name
            )
        try:
            runtime = ep.load()()
        except Exception as exc:
            raise errors.ExecutorNotFound(
                f"the agent runtime {name!r} failed to load: {exc}", executor=name
            ) from exc
        if not isinstance(runtime, AgentRuntime):
            raise errors.ExecutorNotFound(f"{ep.value} is not an AgentRuntime", executor=name)
        self._instances[name] = runtime
        return runtime
