"""Trained steering: distil a prompted instruction into a vector at one layer, and read it through the SAE."""
