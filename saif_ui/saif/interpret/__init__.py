"""What a latent means: logit lens, decoder-space neighbours, token heatmaps, activation cards and UMAP maps."""
