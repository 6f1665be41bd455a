"""The counter's screens (kiosk.mode = "counter"): one per step of kiosk.flows.counter, named
``counter.<step>``, and the staff login (``staff.login``) before them.  No patron screen is among
them: a counter shows nothing to anyone until a staff member logs in."""
