"""Readings over MQTT: the gateway's publisher (a sink with an on-disk spool) and the central ingester."""
