"""pytest plugin: the ``pcinsights_emulator`` fixture (filled in with the emulator)."""
