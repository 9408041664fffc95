"""Variants: build (ai-edge-quantizer recipes), analyse (.tflite static facts), evaluate (host figures)."""
