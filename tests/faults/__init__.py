"""The fault suite: the real CLI as a subprocess against fault servers, the simulator and a real PostgreSQL."""
