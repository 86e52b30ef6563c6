"""Tests against real help desk and billing systems running on loopback."""
