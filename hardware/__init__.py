"""Hardware: scan decoding, serial scanner agent, ESC/POS printers, receipt and label layout. No database imports."""
