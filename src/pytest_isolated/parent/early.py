"""Parent side: the fork template started while pytest loads its first conftests.

When every test is forked (``--forked``, or ``--isolated`` with
``--isolated-start=fork``), the template is needed anyway.  It is started in
``pytest_load_initial_conftests``, before pytest imports the root conftests,
so that its interpreter's start-up, its conftest imports and its collection
overlap those of pytest's process.

Only the command line (the options known then) and the ini file are known at
that point, not the configured session.  The template's spec is written from
them: pytest's arguments, the ``sys.path``, environment and working directory
pytest started with, and folders of its own in its work folder (its basetemp,
cache, log file and debug file; every fork gets its own from its spec, and
never opens the session's outputs).  The session takes the template over at
its start (:meth:`~pytest_isolated.parent.pool.Pool.start_template_early`),
once it knows what it would have told the template then: if that differs (a
conftest or plugin adds arguments for children), the early template is
ended and a new one started, as without this head start.  Under
pytest-randomly none starts early unless the command line gives the seed
(its default seed is drawn in its ``pytest_configure``).
Until then, whatever ends pytest first (a usage error, ``--markers``) ends
the template too, and removes its folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import queue
import sys
from typing import Any, cast

import pytest

from pytest_isolated import _compat, settings
from pytest_isolated.adapters import randomly
from pytest_isolated.parent.events import Inbox
from pytest_isolated.parent.forks import ForkTemplate, template_limit
from pytest_isolated.parent.spawned import SpawnedHandle
from pytest_isolated.parent.specs import Specs, own_outputs
from pytest_isolated.parent.watchdog import Watchdog
from pytest_isolated.protocol import ChildSpec
from pytest_isolated.roles import CHILD_PLUGIN_NAME, xdist_worker

#: Options after which pytest runs no session, or no test: no template then.
NO_SESSION = (
    "help",
    "version",
    "markers",
    "showfixtures",
    "show_fixtures_per_test",
    "collectonly",
)


@dataclasses.dataclass
class EarlyTemplate:
    """The template started early, until the session takes it over."""

    template: ForkTemplate
    spec: ChildSpec
    inbox: Inbox
    watchdog: Watchdog

    @property
    def child(self) -> SpawnedHandle:
        return self.template.child

    def matches(self, spec: ChildSpec) -> bool:
        """Whether the template was told what the session would tell it now
        (*spec*, written for the same child): the same command line and
        extra arguments, paths, limits and outputs.  Its basetemp is its
        own; its environment is the one pytest started with either way; a
        fork takes the terminal and JUnit family of its own spec."""
        return same_start(self.spec, spec)

    def end(self) -> None:
        """End the template and remove its folder (it was not needed)."""
        self.child.kill()
        self.child.close()
        self.watchdog.stop()


EARLY_TEMPLATE = pytest.StashKey[EarlyTemplate]()


def start(config: pytest.Config) -> None:
    """In ``pytest_load_initial_conftests``: start the fork template now if
    every test will be forked from it."""
    resolved = _wanted(config)
    if resolved is None:
        return
    known = _compat.known_options(config)
    seed = randomly.early_child_args(config, known)
    if seed is None:  # known at configure: the template would start anew
        return
    capture = getattr(known, "capture", "no") != "no"
    inbox: Inbox = queue.Queue()
    watchdog = Watchdog()
    specs = Specs(config)
    child = SpawnedHandle(
        inbox,
        watchdog,
        capture,
        specs.environment(),
        specs.path0,
        tee=not capture and sys.platform != "win32",
        preload=specs.preload,
    )
    try:
        limit = template_limit([resolved.timeout.value])
        spec = _early_spec(config, specs, child, limit, known, seed)
        template = ForkTemplate(child, spec)
    except BaseException:
        child.kill()
        child.close()
        raise
    config.stash[EARLY_TEMPLATE] = EarlyTemplate(template, spec, inbox, watchdog)
    # Runs at pytest's end, or at once when the configuration fails.
    config.add_cleanup(lambda: discard(config))


def take(config: pytest.Config) -> EarlyTemplate | None:
    """The template started early, now the session's (None: none was)."""
    early = config.stash.get(EARLY_TEMPLATE, None)
    if early is not None:
        del config.stash[EARLY_TEMPLATE]
    return early


def discard(config: pytest.Config) -> None:
    """End the template started early, unless the session took it over."""
    early = take(config)
    if early is not None:
        early.end()


def _early_spec(
    config: pytest.Config,
    specs: Specs,
    child: SpawnedHandle,
    timeout: float,
    known: argparse.Namespace,
    more: list[str],
) -> ChildSpec:
    """The template's spec from what the command line says (*known*, the
    options known now) and the ini file: the extra arguments the session
    would give it (:meth:`Specs.make`, with *more* for plugins), but a
    basetemp of its own (each fork gets one from its spec); each fork's spec
    gives it the terminal and JUnit family."""
    base = child.workdir / "basetemp"
    extra = [f"--basetemp={base}"]
    if getattr(known, "capture", None) is not None:
        extra.append("--capture=no")
    log_file = getattr(known, "log_file", None) or config.getini("log_file")
    extra += own_outputs(
        config,
        child,
        log_file=config.pluginmanager.has_plugin("logging") and bool(log_file),
        debug=bool(getattr(known, "debug", None)),
    )
    extra += more
    return specs.build(
        child, [], base, extra, {}, timeout=timeout, template=True, whole=True
    )


def _wanted(config: pytest.Config) -> settings.Settings | None:
    """The session's settings, if every test will be forked and this process
    is pytest's own (no child, no pytest-xdist run); else None.  Settings that
    cannot be resolved yet start nothing: ``pytest_configure`` reports them."""
    if config.pluginmanager.has_plugin(CHILD_PLUGIN_NAME):
        return None
    known = _compat.known_options(config)
    if any(getattr(known, name, False) for name in NO_SESSION):
        return None
    if xdist_worker() is not None or (
        config.pluginmanager.has_plugin("xdist")
        and (
            getattr(known, "dist", "no") != "no"
            or getattr(known, "numprocesses", None)
            or getattr(known, "looponfail", False)
        )
    ):
        return None
    view = cast(pytest.Config, _KnownConfig(config, known))
    try:
        resolved = settings.resolve_settings(view)
    except Exception:  # noqa: BLE001 - pytest_configure says what is wrong
        return None
    if resolved.disabled or not settings.forks_from_the_start(view, resolved):
        return None
    return resolved


_NOTSET = object()


class _KnownConfig:
    """The configuration as the initial conftests see it, for the settings:
    the options known then (``getoption``, ``option``), the ini file.
    Configuration warnings wait for ``pytest_configure``, which resolves the
    settings again."""

    def __init__(self, config: pytest.Config, known: argparse.Namespace) -> None:
        self._config = config
        self.option = known
        self.pluginmanager = config.pluginmanager
        self.inipath = config.inipath

    def getoption(self, name: str, default: Any = _NOTSET) -> Any:
        try:
            return getattr(self.option, name)
        except AttributeError:
            if default is _NOTSET:
                raise ValueError(f"no option named {name!r}") from None
            return default

    def getini(self, name: str) -> Any:
        return self._config.getini(name)

    def issue_config_time_warning(self, warning: Warning, stacklevel: int) -> None:
        """Issued when ``pytest_configure`` resolves the settings."""


def same_start(early: ChildSpec, late: ChildSpec) -> bool:
    """Whether a template started with *early* is as good as one started
    with *late*, the spec the session writes for the same child."""
    return _comparable(early) == _comparable(late)


def _comparable(spec: ChildSpec) -> ChildSpec:
    """*spec* less what may differ between a template started early and one
    started at the session's start, for the same child."""
    return dataclasses.replace(
        spec,
        args=[arg for arg in spec.args if not arg.startswith("--basetemp=")],
        basetemp="",
        env={},
        startup_env=None,
        term_width=None,
        term_markup=False,
        junit_family=None,
    )
