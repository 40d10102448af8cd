"""The pure strategy core shared by research and the daemon: no I/O, no clock, no environment."""
