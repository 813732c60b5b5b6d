"""latexsnip_train: data generation and training code for the latexsnip model."""
