"""Tests of the simulator (CPython only): trips, the GNSS model and NMEA output."""
