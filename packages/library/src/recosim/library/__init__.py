"""recosim.library: behaviour blocks written once for every runtime."""
