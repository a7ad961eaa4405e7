"""enforcer's OpenFlow controller: an os-ken app that keeps switches' flows equal to the store.

os-ken picks its hub when :mod:`os_ken.lib.hub` is first imported; the native hub (4.x's default)
never reports a switch disconnecting (docs/lab-facts.md), so the eventlet hub is selected here, before any
os-ken import. Modules that do not run the controller (``flows``, ``wire``, ``control``,
``source``) never import os-ken.
"""

import os

os.environ.setdefault("OSKEN_HUB_TYPE", "eventlet")
