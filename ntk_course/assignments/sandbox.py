"""Where a student's code runs when a class is graded: a sandbox, or nothing without consent.

:func:`choose` picks the first available of

* ``"bubblewrap"`` (Debian's ``bwrap``): a process in new namespaces (no network, its own process
  tree and ``/proc``, so no view of the grader or of other submissions), an unprivileged user, and a
  file system made of read-only binds of what Python needs (the system's libraries, the Python
  installation, the course's package) plus one read-write scratch folder, the job;
* ``"docker"``: the same job in a container without network, read-only, with a memory and process
  limit, from an image the teacher built (``tools/grader.Dockerfile``);
* ``"none"``: the job as a plain process of the teacher's user. Only with ``unsafe=True``
  (``--unsafe`` on the command line): the student's code can then read and change what the teacher
  can.

In every case the runner (:mod:`.runner`) limits its own memory and the time of each cell and each
answer, and the grader kills the whole job at the submission's time limit.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

KINDS = ("bubblewrap", "docker", "none")
DOCKER_IMAGE = "ntk-course-grader"
_ETC = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "fonts",
    "localtime",
    "alternatives",
    "passwd",
    "group",
    "nsswitch.conf",
)


class SandboxUnavailable(ValueError):
    """No sandbox can run here: what was tried, and the ways out."""


@dataclass(frozen=True)
class Sandbox:
    """A way to run the job folder of one submission (see the module's docstring).

    Attributes
    ----------
    kind : str
        ``"bubblewrap"``, ``"docker"`` or ``"none"``.
    base : tuple of str
        The command's prefix; :meth:`command` adds the job's binds and the runner.
    """

    kind: str
    base: tuple[str, ...] = ()

    def command(self, job: Path) -> list[str]:
        """The command that runs :mod:`.runner` on ``job`` in this sandbox.

        Parameters
        ----------
        job : Path
            The submission's job folder, the only place the runner may write.

        Returns
        -------
        list of str
            An argument list for :class:`subprocess.Popen`.
        """
        job = Path(job).resolve()
        runner = ["-I", "-m", "ntk_course.assignments.runner"]
        # The very package this process imported, whatever else is installed: -I keeps the job
        # folder off sys.path, and the package's folder comes first.
        here = _package_parent()
        run = "runpy.run_module('ntk_course.assignments.runner', run_name='__main__')"
        same = ["-I", "-c", f"import sys, runpy; sys.path.insert(0, {here!r}); {run}"]
        if self.kind == "bubblewrap":
            return [*self.base, "--bind", str(job), "/job", "--remount-ro", "/", "--chdir", "/job",
                    sys.executable, *same, "/job"]  # fmt: skip
        if self.kind == "docker":
            return [*self.base, "-v", f"{job}:/job", "-w", "/job", DOCKER_IMAGE,
                    "python", *runner, "/job"]  # fmt: skip
        return [sys.executable, *same, str(job)]


def _package_parent() -> str:
    """The folder that holds the ``ntk_course`` package this process imported."""
    import ntk_course

    return str(Path(ntk_course.__file__).resolve().parent.parent)


def _readable_roots() -> list[str]:
    """What the runner must read: system libraries, the Python installation, the package."""
    roots = {"/usr", sys.prefix, sys.base_prefix, str(Path(_package_parent()) / "ntk_course")}
    roots |= {p for p in sys.path if p and Path(p).is_dir() and "site-packages" in p}
    roots |= {str(Path(sys.executable).resolve().parent)}
    # Nested paths are covered by their parents; the order of binds must go from outer to inner.
    return sorted(r for r in roots if not any(r != o and r.startswith(o + "/") for o in roots))


def _bubblewrap() -> Sandbox | None:
    if shutil.which("bwrap") is None:
        return None
    binds = []
    for root in _readable_roots():
        binds += ["--ro-bind", root, root]
    for name in _ETC:
        binds += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/", link)
        if target.is_symlink():
            binds += ["--symlink", str(target.readlink()), f"/{link}"]
        elif target.is_dir():
            binds += ["--ro-bind", str(target), str(target)]
    env = {"HOME": "/tmp", "MPLBACKEND": "agg", "MPLCONFIGDIR": "/tmp", "OMP_NUM_THREADS": "1",
           "NTK_COURSE_SCALE": "quick", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}  # fmt: skip
    common = ["--unshare-all", "--die-with-parent", "--new-session", "--dev", "/dev",
              "--tmpfs", "/tmp", "--clearenv"]  # fmt: skip
    for key, value in env.items():
        common += ["--setenv", key, value]
    for user in (["--unshare-user", "--uid", "1000", "--gid", "1000"], []):
        base = ["bwrap", *common, *user, "--proc", "/proc", *binds]
        probe = subprocess.run(
            [*base, "--remount-ro", "/", "true"], capture_output=True, timeout=60
        )
        if probe.returncode == 0:
            return Sandbox("bubblewrap", tuple(base))
    return None


def _docker() -> Sandbox | None:
    if shutil.which("docker") is None:
        return None
    try:
        ok = subprocess.run(
            ["docker", "image", "inspect", DOCKER_IMAGE], capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if ok.returncode != 0:
        return None
    base = ["docker", "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp",
            "--memory", "6g", "--pids-limit", "512", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges"]  # fmt: skip
    return Sandbox("docker", tuple(base))


def choose(kind: str | None = None, *, unsafe: bool = False) -> Sandbox:
    """The sandbox to grade with: ``kind`` if given, else the first available of :data:`KINDS`.

    Parameters
    ----------
    kind : str, optional
        ``"bubblewrap"``, ``"docker"`` or ``"none"``; default: bubblewrap, then docker.
    unsafe : bool
        Consent to ``"none"`` (no isolation) when no sandbox is available or it is asked for.

    Returns
    -------
    Sandbox
        Raises :class:`SandboxUnavailable` (a ValueError) saying what to install otherwise.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown sandbox {kind!r}; expected one of {KINDS}")
    if kind == "none" and not unsafe:
        raise SandboxUnavailable("grading without a sandbox needs --unsafe (see the README)")
    for name, make in (("bubblewrap", _bubblewrap), ("docker", _docker)):
        if kind in (None, name) and (found := make()) is not None:
            return found
    if unsafe:
        return Sandbox("none")
    raise SandboxUnavailable(
        "no sandbox to run the students' code in: install bubblewrap (apt-get install bubblewrap; "
        "it must be allowed to create user namespaces), or build the Docker image "
        f"(docker build -t {DOCKER_IMAGE} -f tools/grader.Dockerfile .), or pass --unsafe to run "
        "it as your own user, with access to everything you can read and write"
    )


__all__ = ["DOCKER_IMAGE", "KINDS", "Sandbox", "SandboxUnavailable", "choose"]
