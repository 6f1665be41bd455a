"""The home screen: the journeys offered now, or why the kiosk is out of service."""
