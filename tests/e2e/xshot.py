#!/usr/bin/env python3
"""Saves the X display's root window (all windows as a person sees them) as a PNG.

  DISPLAY=:99 xshot.py out.png

GTK's own capture, with packages the end-to-end tests already install (python3-gi,
gir1.2-gtk-3.0 for drag_source.py), rather than ImageMagick's `import`.
"""
import sys

import gi

gi.require_version("Gdk", "3.0")
from gi.repository import Gdk  # noqa: E402

root = Gdk.get_default_root_window()
if root is None:
    sys.exit("no X display")
shot = Gdk.pixbuf_get_from_window(root, 0, 0, root.get_width(), root.get_height())
if shot is None:
    sys.exit("could not read the display")
shot.savev(sys.argv[1], "png", [], [])
