"""recosim.jax: the JAX runtime of recosim."""
