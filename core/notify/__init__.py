"""Notifications: the node tells the desk's phones about its ERROR and CRITICAL alerts.

The node is the one process awake at 3 a.m. (the console may be closed), so it sends. Nothing
of it runs on the event loop or the order path:

- ``notifier.Notifier`` learns of alerts by reading the OMS's ``risk_alerts`` table from a
  thread of its own with its own SQLite connection (every alert of the node, of a console's
  ``node_down``, of a ``kill`` from a shell lands there), and of the node's parts from the
  heartbeat the node hands it (a tuple, no wait);
- ``incidents.IncidentBook`` turns alerts into incidents: one message when one opens, a
  reminder while it stays open, one when it is resolved;
- ``sender.ChannelSender`` is one thread per channel, rate-limited, sending through apprise
  with a timeout: a channel that hangs holds up its own thread only. Each send becomes a
  ``Notification`` row in the OMS through the store's thread-safe ``submit``;
- ``channels`` reads the ``[notify] urls``: ``${NAME}`` from the environment, secrets masked
  in everything shown.

May import: ``core.oms`` and ``core.storage`` (and the root modules).
"""
