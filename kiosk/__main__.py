
from kiosk.cli import entry

entry()
