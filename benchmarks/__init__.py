"""numbabench's airspeed-velocity suite (see docs/asv.md)."""
