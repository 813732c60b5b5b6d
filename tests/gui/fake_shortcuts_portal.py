"""A stand-in xdg-desktop-portal with only GlobalShortcuts, for tests/gui/test_hotkey.py.

Runs under the *system* Python (dbus-python + GLib) on a private session bus. It binds whatever
is asked, prints ``bound <trigger>`` and, when the test calls its ``Press`` method, emits
``Activated`` for that session, as a desktop does when the user presses the key.
"""

import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

PATH = "/org/freedesktop/portal/desktop"
IFACE = "org.freedesktop.portal.GlobalShortcuts"


class Request(dbus.service.Object):
    @dbus.service.signal("org.freedesktop.portal.Request", signature="ua{sv}")
    def Response(self, code, results):  # noqa: N802 - D-Bus name
        pass


class Portal(dbus.service.Object):
    def __init__(self, bus):
        super().__init__(bus, PATH)
        self.bus = bus
        self.sessions = []

    def _answer(self, sender, token, results):
        path = f"{PATH}/request/{sender[1:].replace('.', '_')}/{token}"
        request = Request(self.bus, path)
        GLib.timeout_add(50, lambda: request.Response(dbus.UInt32(0), results) and False)
        return dbus.ObjectPath(path)

    @dbus.service.method(IFACE, in_signature="a{sv}", out_signature="o", sender_keyword="sender")
    def CreateSession(self, options, sender=None):  # noqa: N802
        session = f"{PATH}/session/{sender[1:].replace('.', '_')}/{options['session_handle_token']}"
        self.sessions.append(session)
        return self._answer(sender, options["handle_token"],
                            {"session_handle": dbus.String(session, variant_level=1)})

    @dbus.service.method(IFACE, in_signature="oa(sa{sv})sa{sv}", out_signature="o",
                         sender_keyword="sender")
    def BindShortcuts(self, session, shortcuts, parent, options, sender=None):  # noqa: N802
        bound = [(sid, {"description": props["description"],
                        "trigger_description": dbus.String(str(props["preferred_trigger"]),
                                                           variant_level=1)})
                 for sid, props in shortcuts]
        print("bound", bound[0][1]["trigger_description"], flush=True)
        return self._answer(sender, options["handle_token"],
                            {"shortcuts": dbus.Array(bound, signature="(sa{sv})", variant_level=1)})

    @dbus.service.signal(IFACE, signature="osta{sv}")
    def Activated(self, session, shortcut_id, timestamp, options):  # noqa: N802
        pass

    @dbus.service.method("org.latexsnip.Test", in_signature="", out_signature="")
    def Press(self):  # noqa: N802
        for session in self.sessions:
            self.Activated(dbus.ObjectPath(session), "snip", dbus.UInt64(0), {})


def main():
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    name = dbus.service.BusName("org.freedesktop.portal.Desktop", bus)  # noqa: F841 - kept: owns the name
    Portal(bus)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    sys.exit(main())
