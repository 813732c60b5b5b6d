"""The snip hotkey through the XDG GlobalShortcuts portal (Wayland: KDE, GNOME 48+, Hyprland).

Protocol: CreateSession, then BindShortcuts on it (the desktop may ask the user to confirm or pick
another key), then ``Activated`` signals for our session. Every answer comes as a ``Response``
signal on a Request object whose path derives from our unique bus name and a token we choose.
Runs on a thread with its own D-Bus connection (jeepney, pure Python): the session belongs to
that connection, and the confirmation dialog may take the user a while.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time

from PySide6.QtCore import QObject, Signal

from latexsnip.app.hotkey_spec import HotkeyError, parse_hotkey

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.portal.Desktop"
PATH = "/org/freedesktop/portal/desktop"
IFACE = "org.freedesktop.portal.GlobalShortcuts"
SHORTCUT_ID = "snip"
HEADER_PATH = 1  # jeepney's HeaderFields.path
_TRIGGER_MODS = {"ControlMask": "CTRL", "Mod1Mask": "ALT", "ShiftMask": "SHIFT",
                 "Mod4Mask": "LOGO"}


def preferred_trigger(sequence: str) -> str:
    """``"Ctrl+Alt+M"`` → ``"CTRL+ALT+m"`` (the XDG shortcuts notation)."""
    masks, key = parse_hotkey(sequence)
    return "+".join([*(_TRIGGER_MODS[m] for m in masks), key])


def portal_available() -> bool:
    """A session bus and jeepney; whether the portal has GlobalShortcuts shows when we ask."""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return False
    try:
        import jeepney  # noqa: F401
    except ImportError:
        return False
    return True


class PortalHotkey(QObject):
    """``start()`` returns at once; ``bound(trigger)`` or ``failed(message)`` follows, then
    ``activated`` per press (signals reach the GUI thread queued)."""

    activated = Signal()
    bound = Signal(str)
    failed = Signal(str)

    def __init__(self, sequence: str, parent: QObject | None = None,
                 bind_timeout_s: float = 120.0) -> None:
        super().__init__(parent)
        self.sequence = sequence
        self.bind_timeout_s = bind_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        preferred_trigger(self.sequence)  # a bad key fails here, synchronously
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="latexsnip-portal-hotkey",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None

    # --- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._serve()
        except HotkeyError as exc:
            if not self._stop.is_set():
                self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a D-Bus surprise must not kill the app
            log.debug("portal hotkey", exc_info=True)
            self.failed.emit(f"the shortcuts portal failed: {type(exc).__name__}: {exc}")

    def _serve(self) -> None:
        from jeepney import MatchRule
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection

        conn = open_dbus_connection(bus="SESSION")
        responses_rule = MatchRule(type="signal", interface="org.freedesktop.portal.Request",
                                   member="Response")
        activated_rule = MatchRule(type="signal", interface=IFACE, member="Activated")
        try:
            for rule in (responses_rule, activated_rule):
                conn.send_and_get_reply(message_bus.AddMatch(rule))
            # Filters queue matching messages whatever call is waiting, so a Response that
            # overtakes its method reply is not lost.
            with conn.filter(responses_rule, bufsize=16) as responses, \
                    conn.filter(activated_rule, bufsize=16) as activations:
                self._talk(conn, responses, activations)
        finally:
            conn.close()

    def _next(self, conn, queue, deadline: float | None):  # noqa: ANN001 - jeepney types
        while not self._stop.is_set():
            left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if left <= 0:
                return None
            try:
                return conn.recv_until_filtered(queue, timeout=left)
            except TimeoutError:
                continue
        raise HotkeyError("stopped")

    def _talk(self, conn, responses, activations) -> None:  # noqa: ANN001 - jeepney types
        from jeepney import DBusAddress, MessageType, new_method_call

        portal = DBusAddress(PATH, bus_name=SERVICE, interface=IFACE)
        sender = conn.unique_name.lstrip(":").replace(".", "_")

        def call(method: str, signature: str, body: tuple, timeout: float) -> dict:
            token = "latexsnip_" + secrets.token_hex(6)
            expected = f"{PATH}/request/{sender}/{token}"
            *head, options = body
            reply = conn.send_and_get_reply(
                new_method_call(portal, method, signature,
                                (*head, {**options, "handle_token": ("s", token)})),
                timeout=10)
            if reply.header.message_type == MessageType.error:
                detail = reply.body[0] if reply.body else "error"
                raise HotkeyError(f"no global shortcuts portal on this desktop ({detail})")
            paths = {expected, reply.body[0]}  # old portals answer on another path
            deadline = time.monotonic() + timeout
            while True:
                msg = self._next(conn, responses, deadline)
                if msg is None:
                    raise HotkeyError(f"the desktop did not answer {method}")
                if msg.header.fields.get(HEADER_PATH) in paths:
                    code, results = msg.body
                    if code != 0:
                        raise HotkeyError("the desktop refused the shortcut" if code == 1
                                          else "binding the shortcut was cancelled")
                    return results

        results = call("CreateSession", "a{sv}",
                       ({"session_handle_token": ("s", "latexsnip_" + secrets.token_hex(6))},),
                       10)
        session = results["session_handle"][1]
        shortcut = (SHORTCUT_ID, {
            "description": ("s", "Snip a formula (latexsnip)"),
            "preferred_trigger": ("s", preferred_trigger(self.sequence)),
        })
        results = call("BindShortcuts", "oa(sa{sv})sa{sv}", (session, [shortcut], "", {}),
                       self.bind_timeout_s)
        triggers = [props.get("trigger_description", ("s", ""))[1]
                    for sid, props in results.get("shortcuts", ("a(sa{sv})", []))[1]
                    if sid == SHORTCUT_ID]
        self.bound.emit(triggers[0] if triggers and triggers[0] else self.sequence)
        while True:
            msg = self._next(conn, activations, None)
            if msg is not None and tuple(msg.body[:2]) == (session, SHORTCUT_ID):
                self.activated.emit()
