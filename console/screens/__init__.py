"""The console's screens: the dashboard, and the screens its keys open."""
