"""Layer kinds beyond the dense MLP layer: convolution, pooling, channel normalisation, residual
blocks. Each module keeps one kind's forward and backward side by side."""
