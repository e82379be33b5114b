"""recosim.usecases: the reference use cases of recosim."""
