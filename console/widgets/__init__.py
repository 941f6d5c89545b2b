"""The dashboard's widgets, one per module: the header, the panes, the pane strip."""
