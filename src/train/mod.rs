//! Training score models by denoising score matching.
