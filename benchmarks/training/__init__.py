"""Training benchmarks: GAN-stage throughput (``throughput``) and what the VGG perceptual
loss costs per step (``python -m benchmarks.training.loss_cost``)."""
