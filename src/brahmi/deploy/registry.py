"""Finding deployment targets: the ``brahmi.deploy_targets`` entry-point group (§11).

The built-in ``local`` target registers like a third-party one would, so a cloud target
is a package with an entry point naming a :class:`~brahmi.deploy.base.DeployTarget`.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from brahmi import errors
from brahmi.deploy.base import DeployTarget

GROUP = "brahmi.deploy_targets"
#: The built-ins, also found when Brahmi runs from a source tree without its metadata.
BUILTINS = {"local": "brahmi.deploy.local:LocalTarget"}


def names() -> list[str]:
    """Every target name installed."""
    return sorted(set(BUILTINS) | {ep.name for ep in entry_points(group=GROUP)})


def get(name: str) -> DeployTarget:
    """A new instance of the target called ``name``.

    Raises:
        DeployTargetNotFound: When no target has that name, or its plug-in fails to load.
    """
    found = {n: EntryPoint(n, v, GROUP) for n, v in BUILTINS.items()}
    found.update({ep.name: ep for ep in entry_points(group=GROUP)})
    ep = found.get(name)
    if ep is None:
        raise errors.DeployTargetNotFound(
            f"no deployment target is called {name!r} (installed: {', '.join(names())})",
            target=name,
        )
    try:
        target = ep.load()()
    except Exception as exc:
        raise errors.DeployTargetNotFound(
            f"the deployment target {name!r} failed to load: {exc}", target=name
        ) from exc
    if not isinstance(target, DeployTarget):
        raise errors.DeployTargetNotFound(f"{ep.value} is not a DeployTarget", target=name)
    return target
