"""The court directory (generated from GB/T 2260 divisions) and the routing of assistance requests."""
