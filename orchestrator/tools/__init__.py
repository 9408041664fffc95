"""Tools built on the product: the demo, the fleet simulator and the reference run."""
