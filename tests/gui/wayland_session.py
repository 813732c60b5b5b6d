"""A real, headless Wayland desktop for the integration tests: sway, and on demand a D-Bus session
bus with xdg-desktop-portal (wlr back-end) — the stack a sway user has.

sway refuses to run as root, so as root it runs as a system user created here (``useradd``) with
its own ``XDG_RUNTIME_DIR``; clients (the app, grim, wl-copy) stay root and connect through the
socket's absolute path in ``WAYLAND_DISPLAY``. Anything that can't start raises
``Unavailable`` with the reason, which the fixtures turn into a skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SWAY_USER = "latexsnip-sway"
# The layout every test sees (headless outputs can't be disabled in sway 1.7, so it is fixed):
PRIMARY, LEFT = "HEADLESS-1", "HEADLESS-2"
PRIMARY_RECT = (0, 0, 1024, 640)  # scale 1
LEFT_RECT = (-640, 0, 640, 400)  # scale 2 (1280×800 pixels), left of the primary: negative x
SWAY_CONFIG = """\
xwayland disable
default_border none
default_floating_border none
focus_follows_mouse no
floating_minimum_size -1 x -1
output HEADLESS-1 resolution 1024x640 position 0 0 scale 1
for_window [title="^latexsnip-test"] floating enable
"""
# Private session bus: only the portal's services, so nothing else on the machine is activated.
BUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  {servicedir}
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""
PORTAL_SERVICES = (
    "org.freedesktop.portal.Desktop",
    "org.freedesktop.impl.portal.desktop.wlr",
    "org.freedesktop.impl.portal.desktop.gtk",  # the Access back-end the Screenshot portal needs
    "org.freedesktop.impl.portal.PermissionStore",
)


class Unavailable(RuntimeError):
    """The compositor (or the portal stack) cannot run here; the message says why."""


def _wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.05)
    return predicate()


def _stop(proc: subprocess.Popen) -> None:
    """End a process we started in its own session, with whatever it spawned."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _sway_user() -> tuple[int, int] | None:
    """(uid, gid) to run sway as, or None to run it as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SWAY_USER)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise Unavailable("running as root, sway refuses root and useradd is missing") from None
        subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SWAY_USER], capture_output=True, check=False)
        try:
            entry = pwd.getpwnam(SWAY_USER)  # also when a parallel run created it first
        except KeyError:
            raise Unavailable(f"could not create the user {SWAY_USER} for sway") from None
    return entry.pw_uid, entry.pw_gid


def private_dir(prefix: str, owner: tuple[int, int] | None = None) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o700)
    if owner is not None:
        os.chown(path, *owner)
    return path


@dataclass
class HeadlessSway:
    proc: subprocess.Popen
    runtime_dir: Path  # sway's own XDG_RUNTIME_DIR
    socket: Path  # absolute WAYLAND_DISPLAY
    ipc: Path  # SWAYSOCK
    client_runtime: Path  # XDG_RUNTIME_DIR for our clients
    log: Path
    extra: list[subprocess.Popen] = field(default_factory=list)

    def msg(self, *args: str, check: bool = True) -> object:
        """``swaymsg`` with JSON output; a failed command raises (when ``check``)."""
        proc = subprocess.run(["swaymsg", "-s", str(self.ipc), "-r", *args], capture_output=True,
                              text=True, timeout=10, check=False)
        data = json.loads(proc.stdout) if proc.stdout.strip() else None
        failed = proc.returncode != 0 or (
            isinstance(data, list) and any(isinstance(d, dict) and not d.get("success", True)
                                           for d in data))
        if check and failed:
            raise RuntimeError(f"swaymsg {' '.join(args)}: {proc.stdout} {proc.stderr}")
        return data

    def command(self, text: str) -> None:
        self.msg("--", text)

    def outputs(self) -> list[dict]:
        return [o for o in self.msg("-t", "get_outputs") if o.get("active")]

    def windows(self) -> list[dict]:
        """Every view (window) in the tree, floating or tiled, with its layout ``rect``."""
        found: list[dict] = []

        def walk(node: dict) -> None:
            if node.get("pid") is not None and node.get("type") in ("con", "floating_con"):
                found.append(node)
            for child in node.get("nodes", []) + node.get("floating_nodes", []):
                walk(child)

        walk(self.msg("-t", "get_tree"))
        return found

    def layout(self) -> dict[str, tuple[int, int, int, int]]:
        return {o["name"]: tuple(o["rect"][k] for k in ("x", "y", "width", "height"))
                for o in self.outputs()}

    def add_left_hidpi_output(self) -> None:
        self.command("create_output")
        self.command(f"output {LEFT} resolution 1280x800 scale 2 position {LEFT_RECT[0]} 0")
        want = {PRIMARY: PRIMARY_RECT, LEFT: LEFT_RECT}
        if not _wait_for(lambda: self.layout() == want, 10):
            raise RuntimeError(f"layout is {self.layout()}, wanted {want}")

    def client_env(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` made into a Wayland session's environment (no X, no session bus)."""
        env = {k: v for k, v in base.items()
               if k not in ("DISPLAY", "QT_QPA_PLATFORM", "DBUS_SESSION_BUS_ADDRESS", "I3SOCK")}
        env.update(WAYLAND_DISPLAY=str(self.socket), SWAYSOCK=str(self.ipc),
                   XDG_RUNTIME_DIR=str(self.client_runtime), XDG_SESSION_TYPE="wayland",
                   XDG_CURRENT_DESKTOP="sway")
        return env

    def close(self) -> None:
        for proc in reversed(self.extra):
            _stop(proc)
        _stop(self.proc)
        shutil.rmtree(self.runtime_dir, ignore_errors=True)
        shutil.rmtree(self.client_runtime, ignore_errors=True)


def start_sway(log_dir: Path) -> HeadlessSway:
    sway = shutil.which("sway")
    if sway is None or shutil.which("swaymsg") is None:
        raise Unavailable("sway is not installed (packaging/setup.sh installs it)")
    owner = _sway_user()
    runtime = private_dir("latexsnip-sway-", owner)
    config = runtime / "config"
    config.write_text(SWAY_CONFIG)
    if owner is not None:
        os.chown(config, *owner)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(runtime),
           "XDG_RUNTIME_DIR": str(runtime), "WLR_BACKENDS": "headless",
           "WLR_LIBINPUT_NO_DEVICES": "1", "WLR_RENDERER": "pixman"}
    log = log_dir / "sway.log"
    kw = {"user": owner[0], "group": owner[1], "extra_groups": []} if owner else {}
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sway, "-c", str(config)], env=env, cwd=runtime, stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, **kw)

    def sockets() -> tuple[Path, Path] | None:
        way = [p for p in runtime.glob("wayland-*") if not p.name.endswith(".lock")]
        ipc = list(runtime.glob("sway-ipc.*.sock"))
        return (way[0], ipc[0]) if way and ipc else None

    if not _wait_for(lambda: sockets() is not None, 20, proc):
        _stop(proc)
        tail = log.read_text(errors="replace")[-800:]
        shutil.rmtree(runtime, ignore_errors=True)
        raise Unavailable(f"headless sway did not start: {tail.strip() or 'no output'}")
    socket, ipc = sockets()  # type: ignore[misc]
    session = HeadlessSway(proc, runtime, socket, ipc, private_dir("latexsnip-client-"), log)
    if not _wait_for(lambda: _answers(session), 10, proc):
        session.close()
        raise Unavailable("sway started but does not answer on its IPC socket")
    return session


def _answers(session: HeadlessSway) -> bool:
    try:
        return bool(session.outputs())
    except (RuntimeError, ValueError, subprocess.TimeoutExpired):
        return False


@dataclass
class SessionBus:
    proc: subprocess.Popen
    address: str
    extra: list[subprocess.Popen] = field(default_factory=list)
    ready_s: float = 0.0  # how long the portal took to come up

    def close(self) -> None:
        for proc in reversed(self.extra):
            _stop(proc)
        _stop(self.proc)


def start_bus(env: dict[str, str], workdir: Path, services: tuple[str, ...] = ()) -> SessionBus:
    """A private session bus whose activatable services are only ``services`` (copied from the
    system's service files); activated services inherit ``env``."""
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        raise Unavailable("dbus-daemon is not installed")
    servicedir = workdir / "services"
    servicedir.mkdir(parents=True, exist_ok=True)
    for name in services:
        src = next((d / f"{name}.service" for d in (Path("/usr/share/dbus-1/services"),
                                                    Path("/usr/local/share/dbus-1/services"))
                    if (d / f"{name}.service").exists()), None)
        if src is None:
            raise Unavailable(f"D-Bus service {name} is not installed")
        lines = [ln for ln in src.read_text().splitlines() if not ln.startswith("SystemdService")]
        (servicedir / src.name).write_text("\n".join(lines) + "\n")
    socket = workdir / "bus"
    config = workdir / "bus.conf"
    config.write_text(BUS_CONFIG.format(socket=socket,
                                        servicedir=f"<servicedir>{servicedir}</servicedir>"))
    proc = subprocess.Popen([daemon, f"--config-file={config}", "--nofork", "--nopidfile"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    if not _wait_for(socket.exists, 10, proc):
        _stop(proc)
        raise Unavailable("dbus-daemon did not start")
    return SessionBus(proc, f"unix:path={socket}")


def start_portal(env: dict[str, str], workdir: Path) -> SessionBus:
    """Session bus + PipeWire (xdg-desktop-portal-wlr exits without it) + the portal services,
    activated on first use like on a desktop. ``env`` must be a Wayland client environment."""
    missing = [tool for tool in ("pipewire", "grim", "dbus-send") if shutil.which(tool) is None]
    if missing:
        raise Unavailable(f"not installed: {', '.join(missing)}")
    bus = start_bus(env, workdir, PORTAL_SERVICES)
    env = dict(env, DBUS_SESSION_BUS_ADDRESS=bus.address)
    pipewire = subprocess.Popen(["pipewire"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    bus.extra.append(pipewire)
    runtime = Path(env["XDG_RUNTIME_DIR"])
    if not _wait_for(lambda: (runtime / "pipewire-0").exists(), 10, pipewire):
        bus.close()
        raise Unavailable("pipewire did not start")
    # Activate the portal now and wait until it exports Screenshot: its first start (with its
    # back-ends) can take longer than one screenshot call may wait on a busy machine.
    started = time.monotonic()
    problem = ""
    while time.monotonic() - started < 90:
        proc = subprocess.run(
            ["dbus-send", "--session", "--print-reply", "--reply-timeout=30000",
             "--dest=org.freedesktop.portal.Desktop", "/org/freedesktop/portal/desktop",
             "org.freedesktop.DBus.Properties.Get", "string:org.freedesktop.portal.Screenshot",
             "string:version"], env=env, capture_output=True, text=True, timeout=40, check=False)
        if proc.returncode == 0:
            bus.ready_s = time.monotonic() - started
            return bus
        problem = proc.stderr.strip()
        time.sleep(0.5)
    bus.close()
    raise Unavailable(f"the screenshot portal did not come up: {problem}")
