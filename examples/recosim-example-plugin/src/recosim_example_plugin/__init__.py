"""An example third-party recosim plugin."""
