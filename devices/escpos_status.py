"""ESC/POS status requests and the bits of their one-byte answers (Epson's real-time DLE EOT and
the in-sequence GS r): one definition for the driver (devices/printer.py), which reads them,
and the virtual printer (devices/sim/printer.py), which answers them."""

from __future__ import annotations

DLE_EOT = b"\x10\x04"  # + n (1 printer, 2 offline cause, 3 error cause, 4 roll paper): real-time
GS_R_PAPER = b"\x1dr\x01"  # paper sensor status, answered in sequence (after every byte before it)

# DLE EOT answers always have bits 1 and 4 set and bits 0 and 7 clear.
EOT_FIXED_MASK, EOT_FIXED_VALUE = 0x93, 0x12
EOT1_OFFLINE = 0x08
EOT2_COVER_OPEN = 0x04
EOT2_PAPER_END_STOP = 0x20
EOT2_ERROR = 0x40
EOT3_AUTO_RECOVERABLE_ERROR = 0x40
EOT4_NEAR_END = 0x0C
EOT4_PAPER_END = 0x60

# GS r 1 answers have bits 4 and 7 clear.
GSR_FIXED_MASK = 0x90
GSR_NEAR_END = 0x03
GSR_PAPER_END = 0x0C
