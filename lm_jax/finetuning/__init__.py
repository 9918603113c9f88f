"""Fine-tuning pretrained encoders on the standard benchmarks."""
