"""Receivers: each module holds a sans-IO framer (bytes in, frames out) and a thin port loop."""
