"""Evaluation: HumanEval and infilling scores through the product's completion path, next to the raw model."""
