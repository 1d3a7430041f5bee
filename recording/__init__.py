"""Recording: per-track and composite recorders, the catalog, playback with an audit log."""
