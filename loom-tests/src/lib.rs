//! Loom models of counter
