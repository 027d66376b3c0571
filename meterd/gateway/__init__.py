"""The gateway service: receivers → decoder → Reading → dedup → forwarding → sinks, under systemd."""
