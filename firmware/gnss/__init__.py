"""GNSS subsystem: the NMEA 0183 parser (nmea.py) that turns receiver bytes into fixes."""
