#!/usr/bin/python3
"""A tiny GTK window to drag a path from, for the end-to-end tests: the one thing
WebDriver cannot do is a drop from outside the page. Usage: drag_source.py PATH X Y.
Prints "ready" once the window is on screen at (X, Y); the test then drags from it
with xdotool, as a file manager would (XDND, text/uri-list)."""
import sys
from pathlib import Path

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, Gtk  # noqa: E402

path, x, y = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
uri = Path(path).resolve().as_uri()

window = Gtk.Window(title="drag source")
window.set_decorated(False)
window.set_default_size(160, 60)
window.move(x, y)
box = Gtk.EventBox()
box.add(Gtk.Label(label="drag me"))
window.add(box)
box.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
box.drag_source_add_uri_targets()
box.connect("drag-data-get", lambda _w, _ctx, data, _info, _time: data.set_uris([uri]))
box.connect("drag-end", lambda *_: Gtk.main_quit())


def mapped(*_):
    print("ready", flush=True)


window.connect("map-event", mapped)
window.connect("destroy", Gtk.main_quit)
window.show_all()
Gtk.main()
