"""recosim.tf: the TensorFlow runtime of recosim."""
