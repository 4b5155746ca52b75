"""Training benchmarks: GAN-stage throughput (``throughput``), what the VGG perceptual
loss costs per step (``python -m benchmarks.training.loss_cost``), and nested shares of a
training set and its multi-scale copies, for measuring what more images or denser detail
buy (``python -m benchmarks.training.subsets``)."""
